; type: xdp
; map: jt prog_array 4 4 4
r6 = r1
call f1
exit
f1:
call f2
exit
f2:
call f3
exit
f3:
call f4
exit
f4:
call f5
exit
f5:
call f6
exit
f6:
call f7
exit
f7:
r2 = 0xfeed0001 ll
r3 = 0
call 12
r0 = 2
exit
