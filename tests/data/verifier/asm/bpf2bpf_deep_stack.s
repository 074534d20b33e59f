; type: xdp
*(u64 *)(r10 - 512) = 0
call func
exit
func:
*(u64 *)(r10 - 256) = 0
r0 = 0
exit
