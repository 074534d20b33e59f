/* memcpy: copy 64-byte blocks of the packet to the stack 16 times and mix two words of each. */
#include "bench.h"

BENCH(memcpy_bench)
{
    unsigned char *data = DATA(ctx), *end = DATA_END(ctx);
    if (data + 192 > end)
        return XDP_ABORTED;
    __u64 buf[8];
    __u64 acc = 0;
    __u32 n = 16;
    OPAQUE(n);
    for (__u32 r = 0; r < n && r < 16; r++) {
        __builtin_memcpy(buf, data + (r & 7) * 16, sizeof(buf));
        acc += buf[r & 7] ^ buf[7 - (r & 7)];
    }
    return (__u32)(acc ^ (acc >> 32));
}

LICENSE_GPL;
