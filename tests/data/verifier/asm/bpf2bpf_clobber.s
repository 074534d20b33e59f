; type: xdp
r1 = 5
call func
r0 = r2
exit
func:
r0 = r1
exit
