; type: xdp
; btf: funcs
; bpf_loop's callback sits before the sub-program that passes it: the lddw offset is negative across
; the whole 64-bit immediate (insn[1].imm = -1), which the kernel does not look at
call sub
exit
cb:
r0 = 0
exit
sub:
*(u64 *)(r10 - 8) = 0
r1 = 4
r2 = 0xfeef0002 ll
r3 = r10
r3 += -8
r4 = 0
call 181
r0 = 0
exit
