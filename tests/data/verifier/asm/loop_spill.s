; type: xdp
l:
call 7
*(u64 *)(r10 - 8) = r0
r1 = *(u64 *)(r10 - 8)
if r1 > 5 goto l
r0 = 0
exit
