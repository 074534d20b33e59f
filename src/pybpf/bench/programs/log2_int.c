/* log2_int: integer log2 by binary search on the bits, of 1000 pseudo-random u64 values. */
#include "bench.h"

static __always_inline __u32 log2_u64(__u64 v)
{
    __u32 r = 0;
    if (v >> 32) { v >>= 32; r += 32; }
    if (v >> 16) { v >>= 16; r += 16; }
    if (v >> 8) { v >>= 8; r += 8; }
    if (v >> 4) { v >>= 4; r += 4; }
    if (v >> 2) { v >>= 2; r += 2; }
    if (v >> 1) { r += 1; }
    return r;
}

BENCH(log2_int)
{
    void *data = DATA(ctx), *end = DATA_END(ctx);
    if (data + 8 > end)
        return XDP_ABORTED;
    __u64 x = *(__u64 *)data;
    __u32 n = 1000;
    OPAQUE(n);
    __u64 acc = 0;
    for (__u32 i = 0; i < n && i < 1000; i++) {
        acc += log2_u64(x);
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
    return (__u32)acc;
}

LICENSE_GPL;
