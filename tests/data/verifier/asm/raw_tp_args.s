; type: raw_tracepoint
r0 = *(u64 *)(r1 + 88)
r0 = *(u64 *)(r1 + 96)
exit
