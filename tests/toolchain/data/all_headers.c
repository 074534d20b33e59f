/* Every pybpf header included together, and each of their main features used once. */
#include <bpf_helpers.h>
#include <bpf_endian.h>
#include <bpf_packet.h>
#include <bpf_tracing.h>
#include <bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
} __pybpf_preserve_access_index;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u16);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ports SEC(".maps");

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps") = {.values = {&inner}};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	return ip->protocol == IPPROTO_TCP ? XDP_TX : XDP_PASS;
}

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(on_open, int dfd, const char *name)
{
	bpf_printk("open %d", dfd);
	return 0;
}

SEC("fentry/some_function")
int BPF_PROG(on_entry, struct task_struct *task, int value)
{
	int ppid = BPF_CORE_READ(task, real_parent, tgid);
	return ppid + value + bpf_core_field_exists(task->pid);
}

SEC("tc")
int tc_v6(struct __sk_buff *skb)
{
	return skb->protocol == bpf_htons(ETH_P_IPV6) ? TC_ACT_SHOT : TC_ACT_OK;
}

BPF_LICENSE("GPL");
