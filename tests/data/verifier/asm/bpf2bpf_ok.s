; type: xdp
r1 = 5
call func
exit
func:
r0 = r1
r0 += 1
exit
