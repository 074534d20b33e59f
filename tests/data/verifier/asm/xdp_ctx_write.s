; type: xdp
r0 = 0
*(u32 *)(r1 + 0) = r0
exit
