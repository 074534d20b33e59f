; type: xdp
r0 = 0
r1 = *(u32 *)(r1 + 0)
loop:
r0 += 1
if r0 != r1 goto loop
exit
