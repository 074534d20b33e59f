; type: xdp
; map: rb ringbuf 0 0 4096
l:
r1 = 0xfeed0001 ll
r2 = 8
r3 = 0
call 131
if r0 == 0 goto l
r1 = r0
r2 = 0
call 133
r0 = 0
exit
