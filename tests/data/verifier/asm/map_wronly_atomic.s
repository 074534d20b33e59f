; type: xdp
; map: wo array 4 16 1 wronly_prog
r1 = 0xfeee0001 ll
r2 = 1
lock *(u64 *)(r1 + 0) += r2
r0 = 0
exit
