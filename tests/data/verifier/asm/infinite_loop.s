; type: xdp
r0 = 0
loop:
r1 = 1
goto loop
