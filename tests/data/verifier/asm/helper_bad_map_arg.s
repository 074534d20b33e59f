; type: xdp
r1 = 1
r2 = r10
r2 += -8
call 1
r0 = 0
exit
