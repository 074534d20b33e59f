; type: xdp
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 8
r0 = 0
if r4 < r3 goto ok
exit
ok:
r0 = *(u64 *)(r2 + 0)
r0 = *(u8 *)(r2 + 8)
exit
