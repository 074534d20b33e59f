; type: xdp
; map: arr array 4 64 1
r6 = *(u32 *)(r1 + 12)
r6 &= 31
*(u64 *)(r10 - 16) = r6
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
r1 = 0xfeed0001 ll
call 1
if r0 == 0 goto out
r6 = *(u64 *)(r10 - 16)
r0 += r6
r0 = *(u32 *)(r0 + 0)
out:
r0 = 0
exit
