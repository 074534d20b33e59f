; type: xdp
r6 = r1
l:
r2 = *(u32 *)(r6 + 0)
r3 = *(u32 *)(r6 + 4)
r2 += 14
if r2 > r3 goto l
r0 = 0
exit
