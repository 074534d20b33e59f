; type: xdp
; map: .rodata array 4 16 1 frozen
r1 = 0xfeee0001 ll
r2 = 1
*(u32 *)(r1 + 0) = r2
r0 = 0
exit
