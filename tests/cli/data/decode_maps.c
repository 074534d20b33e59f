/* Maps for the decoding tests: a hash with a struct key, filled out of order, and a prog array. */
#include <bpf_helpers.h>

struct task_key { __u32 tgid; __u32 nr; };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct task_key);
	__type(value, __u64);
} by_task SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jumps SEC(".maps");

SEC("xdp")
int fill(struct xdp_md *ctx)
{
	for (__u32 i = 0; i < 5; i++) {
		struct task_key k = { .tgid = 2 - (i & 1), .nr = 1000 - i * 100 };
		__u64 v = i;

		bpf_map_update_elem(&by_task, &k, &v, BPF_ANY);
	}
	bpf_tail_call(ctx, &jumps, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
