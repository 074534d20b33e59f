; type: xdp
; map: ro hash 4 16 8 rdonly_prog
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
r1 = 0xfeed0001 ll
call 3
r0 = 0
exit
