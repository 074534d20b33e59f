// Bounded loops over a map value and over the packet, and a loop with a variable bound.
#include <bpf_helpers.h>

struct val { __u32 items[16]; __u32 n; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, __u32); __type(value, struct val); } vals SEC(".maps");

SEC("xdp") int sum_fixed(struct xdp_md *ctx) {
    __u32 key = 0;
    struct val *v = bpf_map_lookup_elem(&vals, &key);
    if (!v) return 0;
    __u32 s = 0;
    for (int i = 0; i < 16; i++) s += v->items[i];
    return s & 3;
}

SEC("xdp") int sum_var(struct xdp_md *ctx) {
    __u32 key = 0;
    struct val *v = bpf_map_lookup_elem(&vals, &key);
    if (!v) return 0;
    __u32 s = 0, n = v->n;
    for (__u32 i = 0; i < n && i < 16; i++) s += v->items[i];
    return s & 3;
}

SEC("xdp") int sum_unchecked(struct xdp_md *ctx) {
    __u32 key = 0;
    struct val *v = bpf_map_lookup_elem(&vals, &key);
    if (!v) return 0;
    __u32 s = 0, n = v->n;
    for (__u32 i = 0; i < n; i++) s += v->items[i & 31];   /* index may pass the value: rejected */
    return s & 3;
}
BPF_LICENSE("GPL");
