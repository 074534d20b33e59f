; type: xdp
call 2000
r0 = 0
exit
