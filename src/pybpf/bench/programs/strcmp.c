/* strcmp_full / strcmp_fail: compare two 128-byte strings in the packet (equal / differing
 * at the first byte). The packet holds string A at 0 and string B at 128. */
#include "bench.h"

#define LEN 128

static __always_inline int compare(const unsigned char *a, const unsigned char *b)
{
    for (int i = 0; i < LEN; i++) {
        if (a[i] != b[i])
            return a[i] < b[i] ? 1 : 3;
        if (!a[i])
            return 2;
    }
    return 2;
}

BENCH(strcmp_bench)
{
    unsigned char *data = DATA(ctx), *end = DATA_END(ctx);
    if (data + 2 * LEN > end)
        return XDP_ABORTED;
    return compare(data, data + LEN);
}

LICENSE_GPL;
