; type: xdp
r0 = 0
r1 = 10
loop:
r0 += 1
r1 -= 1
if r1 != 0 goto loop
exit
