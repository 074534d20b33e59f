// XDP: parse Ethernet + IPv4 + UDP with bounds checks; count packets per protocol in an array map.
#include <bpf_helpers.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf_endian.h>

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 256); __type(key, __u32); __type(value, __u64); } proto_count SEC(".maps");

SEC("xdp") int xdp_count(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end) return XDP_PASS;
    if (eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end) return XDP_PASS;
    __u32 key = ip->protocol;
    __u64 *v = bpf_map_lookup_elem(&proto_count, &key);
    if (v) __sync_fetch_and_add(v, 1);
    if (ip->protocol == 17) {
        struct udphdr *udp = (void *)(ip + 1);
        if ((void *)(udp + 1) > end) return XDP_PASS;
        if (udp->dest == bpf_htons(53)) return XDP_DROP;
    }
    return XDP_PASS;
}

SEC("xdp") int xdp_overread(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end) return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    return ip->ttl;   /* not bounds-checked: rejected */
}
BPF_LICENSE("GPL");
