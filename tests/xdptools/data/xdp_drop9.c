/* xdp_drop9.c - drop UDP datagrams to port 9 (test component for the XDP dispatcher). */
#include <bpf_helpers.h>
#include <bpf_endian.h>
#include <bpf_packet.h>

SEC("xdp")
int xdp_drop9(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->protocol == IPPROTO_UDP && ip->ihl == 5 && udp->dest == bpf_htons(9))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
