; type: xdp
; map: hash hash 8 16 8
r2 = r10
r2 += -8
r1 = 0xfeed0001 ll
call 1
r0 = 0
exit
