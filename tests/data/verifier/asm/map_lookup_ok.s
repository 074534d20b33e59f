; type: xdp
; map: hash hash 4 16 8
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
r1 = 0xfeed0001 ll
call 1
r1 = r0
if r1 == 0 goto out
r0 = *(u32 *)(r0 + 12)
exit
out:
r0 = 0
exit
