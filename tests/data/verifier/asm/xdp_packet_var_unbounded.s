; type: xdp
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r5 = *(u32 *)(r1 + 12)
r2 += r5
r4 = r2
r4 += 4
r0 = 0
if r4 > r3 goto out
r0 = *(u32 *)(r2 + 0)
out:
exit
