/* hash_counter: count packets per IPv4 source address in a hash map. */
#include "bench.h"

HASH_MAP(counters, __u32, __u64, 1024);

BENCH(hash_counter)
{
    void *data = DATA(ctx), *end = DATA_END(ctx);
    if (data + 34 > end)
        return XDP_ABORTED;
    __u32 key = *(__u32 *)(data + 26) & 0xff;
    __u64 *value = bpf_map_lookup_elem(&counters, &key);
    if (value) {
        __sync_fetch_and_add(value, 1);
    } else {
        __u64 one = 1;
        bpf_map_update_elem(&counters, &key, &one, BPF_NOEXIST);
    }
    return XDP_PASS;
}

LICENSE_GPL;
