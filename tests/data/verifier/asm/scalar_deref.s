; type: xdp
r1 = 1000
r0 = *(u32 *)(r1 + 0)
exit
