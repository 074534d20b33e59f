; type: xdp
*(u64 *)(r10 - 8) = 3
r1 = r10
r1 += -8
call func
exit
func:
r0 = *(u64 *)(r1 + 0)
exit
