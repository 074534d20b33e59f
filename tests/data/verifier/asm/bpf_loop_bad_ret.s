; type: xdp
r1 = 10
r2 = 0xfeef0008 ll
r3 = 0
r4 = 0
call 181
r0 = 0
exit
cb:
r0 = 5
exit
