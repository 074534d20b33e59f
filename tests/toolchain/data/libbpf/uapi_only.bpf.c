/* pybpf test program without vmlinux.h: <linux/bpf.h> and <bpf/...> only, byte order constants in
 * case labels, errno values, clone flags, KERNEL_VERSION, bpf_printk with 0..5 arguments and a
 * constant-slot tail call. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/sched.h>
#include <asm-generic/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} jump SEC(".maps");

SEC("xdp")
int classify(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	bpf_printk("no args");
	bpf_printk("%d %d %d %d %d", 1, 2, 3, 4, 5);
	bpf_tail_call_static(ctx, &jump, 1);
	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
		return XDP_PASS;
	case __bpf_constant_htons(ETH_P_IPV6):
		return XDP_DROP;
	default:
		if (__bpf_ntohs(eth->h_proto) == 0x0806 && bpf_ntohl(0x01000000) == 1)
			return XDP_TX;
		return (ENOENT == 2 && EOPNOTSUPP == 95 && CLONE_NEWNET == 0x40000000 &&
			KERNEL_VERSION(6, 1, 300) == 0x0601ff) ? XDP_REDIRECT : XDP_ABORTED;
	}
}
