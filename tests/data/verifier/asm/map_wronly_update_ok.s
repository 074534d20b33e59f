; type: xdp
; map: wo hash 4 16 8 wronly_prog
r1 = 0
*(u32 *)(r10 - 4) = r1
*(u64 *)(r10 - 24) = r1
*(u64 *)(r10 - 16) = r1
r2 = r10
r2 += -4
r3 = r10
r3 += -24
r1 = 0xfeed0001 ll
r4 = 0
call 2
r0 = 0
exit
