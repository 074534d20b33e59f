/* memory_a_plus_b: read two u32 from the packet and return their sum. */
#include "bench.h"

BENCH(memory_a_plus_b)
{
    void *data = DATA(ctx), *end = DATA_END(ctx);
    if (data + 8 > end)
        return XDP_ABORTED;
    __u32 a = ((__u32 *)data)[0];
    __u32 b = ((__u32 *)data)[1];
    return a + b;
}

LICENSE_GPL;
