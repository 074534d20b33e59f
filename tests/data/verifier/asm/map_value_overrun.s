; type: xdp
; map: hash hash 4 16 8
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
r1 = 0xfeed0001 ll
call 1
if r0 == 0 goto out
r0 = *(u32 *)(r0 + 13)
exit
out:
r0 = 0
exit
