; type: xdp
l:
call 7
if r0 > 5 goto l
r0 = 0
exit
