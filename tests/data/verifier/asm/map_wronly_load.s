; type: xdp
; map: wo array 4 16 1 wronly_prog
r1 = 0xfeee0001 ll
r0 = *(u64 *)(r1 + 8)
r0 &= 1
exit
