/* dump.c - capture packets at XDP entry (like xdpdump): each packet's first `snaplen` bytes
 * go to user space through a perf event array (bpf_perf_event_output appends them from the
 * XDP buffer), with its length and the receive queue; the packet then continues (XDP_PASS).
 */
#include <bpf_helpers.h>

const volatile __u32 snaplen = 262144;

struct capture {
	__u64 ktime;
	__u32 len;
	__u32 caplen;
	__u32 ifindex;
	__u32 rx_queue;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} captures SEC(".maps");

SEC("xdp")
int xdp_dump(struct xdp_md *ctx)
{
	__u64 len = ctx->data_end - ctx->data;
	__u64 caplen = len < snaplen ? len : snaplen;
	struct capture c = {
		.ktime = bpf_ktime_get_ns(),
		.len = len,
		.caplen = caplen,
		.ifindex = ctx->ingress_ifindex,
		.rx_queue = ctx->rx_queue_index,
	};

	/* the upper 32 bits of the flags: how many packet bytes to append */
	bpf_perf_event_output(ctx, &captures, BPF_F_CURRENT_CPU | ((caplen & 0xffffffff) << 32),
			      &c, sizeof(c));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
