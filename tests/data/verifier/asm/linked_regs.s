; type: xdp
; map: hash hash 4 64 8
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
r1 = 0xfeed0001 ll
call 1
if r0 == 0 goto out
r1 = *(u32 *)(r0 + 0)
r2 = r1
if r2 > 60 goto out
r0 += r1
r0 = *(u32 *)(r0 + 0)
exit
out:
r0 = 0
exit
