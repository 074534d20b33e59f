/* uprobe.multi and uretprobe.multi sections on every pb_fn_* function of APP (a -D define): entries
 * counted per function address (bpf_get_func_ip), returns counted in total. */
#include <bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, __u64);
    __type(value, __u64);
} entries SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} returns SEC(".maps");

SEC("uprobe.multi/" APP ":pb_fn_*")
int on_entry(void *ctx)
{
    __u64 ip = bpf_get_func_ip(ctx), one = 1;
    __u64 *n = bpf_map_lookup_elem(&entries, &ip);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        bpf_map_update_elem(&entries, &ip, &one, BPF_NOEXIST);
    return 0;
}

SEC("uretprobe.multi/" APP ":pb_fn_*")
int on_return(void *ctx)
{
    __u32 k = 0;
    __u64 *n = bpf_map_lookup_elem(&returns, &k);
    if (n)
        __sync_fetch_and_add(n, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
