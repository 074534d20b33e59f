; type: xdp
; map: wo array 4 16 1 wronly_prog
; map: h hash 4 16 8
r2 = 0xfeee0001 ll
r1 = 0xfeed0002 ll
call 1
r0 = 0
exit
