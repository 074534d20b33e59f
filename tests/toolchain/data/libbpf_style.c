/* A program written the way libbpf tutorials write them: kernel uapi headers + <bpf/...>. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, long);
} rxcnt SEC(".maps");

SEC("xdp")
int xdp_count_proto(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	__u32 proto;
	long *value;

	if (data + sizeof(*eth) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = data + sizeof(*eth);
	if ((void *)(iph + 1) > data_end)
		return XDP_DROP;
	proto = iph->protocol;
	value = bpf_map_lookup_elem(&rxcnt, &proto);
	if (value)
		*value += 1;
	return XDP_PASS;
}

SEC("tc")
int tc_drop_udp(struct __sk_buff *skb)
{
	return skb->protocol == bpf_htons(ETH_P_IP) && skb->len > 1000 ? TC_ACT_SHOT : TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
