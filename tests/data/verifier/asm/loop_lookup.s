; type: xdp
; map: h hash 4 16 8
*(u32 *)(r10 - 4) = 0
l:
r2 = r10
r2 += -4
r1 = 0xfeed0001 ll
call 1
if r0 == 0 goto l
r0 = 0
exit
