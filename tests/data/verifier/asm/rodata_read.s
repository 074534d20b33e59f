; type: xdp
; map: .rodata array 4 16 1 frozen
r1 = 0xfeee0001 ll
r0 = *(u32 *)(r1 + 12)
exit
