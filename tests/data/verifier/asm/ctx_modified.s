; type: xdp
r1 += 4
r0 = *(u32 *)(r1 + 0)
exit
