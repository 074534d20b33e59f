; type: xdp
; map: ro array 4 16 1 rdonly_prog
r1 = 0xfeee0001 ll
r2 = 7
*(u64 *)(r1 + 8) = r2
r0 = 0
exit
