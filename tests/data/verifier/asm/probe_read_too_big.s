; type: kprobe
r3 = *(u64 *)(r1 + 112)
r1 = r10
r1 += -16
r2 = 17
call 4
r0 = 0
exit
