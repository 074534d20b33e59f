/* nested.c - map-in-map lookups and tail calls through a program array, driven by packet bytes.
 *
 * byte 14: which inner map (0/1, 2 = missing) gets inner[0] += 1; byte 15: tail-call slot
 * (0/1 are programs that count in `hits`, anything else falls through).
 */
#include <bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = {[0] = &inner_a, [1] = &inner_b},
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

static __always_inline void hit(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &i);

	if (v)
		*v += 1;
}

SEC("xdp")
int target0(struct xdp_md *ctx)
{
	hit(0);
	return XDP_PASS;
}

SEC("xdp")
int target1(struct xdp_md *ctx)
{
	hit(1);
	return XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int(void *));
} jumps SEC(".maps") = {
	.values = {[0] = (void *)&target0, [1] = (void *)&target1},
};

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + 16 > data_end)
		return XDP_ABORTED;
	__u32 which = *(__u8 *)(data + 14);
	__u32 slot = *(__u8 *)(data + 15);
	void *inner = bpf_map_lookup_elem(&outer, &which);

	if (inner) {
		__u32 zero = 0;
		__u64 *v = bpf_map_lookup_elem(inner, &zero);
		if (v)
			*v += 1;
	} else {
		hit(3);
	}
	bpf_tail_call(ctx, &jumps, slot);
	hit(2);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
