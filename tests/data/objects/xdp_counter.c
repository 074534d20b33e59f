/* Two XDP programs in one section sharing a static sub-program, a BTF map and global data. */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __uint(map_flags, 1);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
    __type(key, __u64);
    __type(value, __u32);
} by_ip SEC(".maps");

int g_data = 5;
int g_bss;
const volatile int g_ro = 7;
char custom_buf[16] SEC(".data.custom") = "custom";

static __noinline int helper(int x) { return x * g_ro + g_data; }

SEC("xdp") int count_packets(struct xdp_md *ctx)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&counts, &k);
    if (v)
        *v += 1;
    g_bss++;
    custom_buf[0] = 'C';
    return helper(ctx->ingress_ifindex) ? 2 : 1;
}

SEC("xdp") int pass_all(struct xdp_md *ctx) { return helper(3) > 0 ? 2 : 1; }

SEC("tc") int tc_prog(struct __sk_buff *skb) { __u64 k = skb->mark; __u32 one = 1; bpf_map_update_elem(&by_ip, &k, &one, 0); return 0; }

char LICENSE[] SEC("license") = "Dual MIT/GPL";
