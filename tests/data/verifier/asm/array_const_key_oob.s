; type: xdp
; map: arr array 4 16 4
*(u32 *)(r10 - 4) = 4
r2 = r10
r2 += -4
r1 = 0xfeed0001 ll
call 1
r0 = *(u32 *)(r0 + 0)
exit
