; type: tracepoint
; map: ro array 4 16 1 rdonly_prog
r3 = r1
r1 = 0xfeee0001 ll
r2 = 8
call 113
r0 = 0
exit
