; type: xdp
; btf: funcs
*(u64 *)(r10 - 8) = 0
r1 = 10
r2 = 0xfeef000a ll
r3 = r10
r3 += -8
r4 = 0
call 181
r0 = 0
exit
cb:
r0 = 0
exit
