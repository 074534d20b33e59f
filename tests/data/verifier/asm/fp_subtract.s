; type: xdp
r2 = *(u32 *)(r1 + 12)
r2 &= 7
r3 = r10
r3 -= r2
r0 = 0
exit
