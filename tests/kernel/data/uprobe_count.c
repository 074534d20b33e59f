/* Counts calls of the probed function (attached by `pybpf attach --uprobe BINARY:SYMBOL`). */
#include <bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} calls SEC(".maps");

SEC("uprobe")
int count_calls(void *ctx)
{
    __u32 k = 0;
    __u64 *n = bpf_map_lookup_elem(&calls, &k);
    if (n)
        __sync_fetch_and_add(n, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
