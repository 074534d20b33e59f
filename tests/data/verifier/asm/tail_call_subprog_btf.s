; type: xdp
; btf: funcs
; map: jt prog_array 4 4 4
call func
exit
func:
r2 = 0xfeed0001 ll
r3 = 0
call 12
r0 = 2
exit
