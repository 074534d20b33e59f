; type: xdp
; map: .data array 4 16 1
r1 = 0xfeee0001 ll
r2 = *(u64 *)(r1 + 8)
r2 += 1
*(u64 *)(r1 + 8) = r2
r0 = 0
exit
