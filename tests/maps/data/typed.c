/* typed.c - maps with BTF-described keys and values for the typed map view tests. */
#include <bpf_helpers.h>

enum color { RED = 1, GREEN = 2, BLUE = 4 };

struct flow_key {
	__u32 addr;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
	char name[8];
	enum color color;
	__u32 samples[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __s64);
} deltas SEC(".maps");

SEC("xdp")
int touch(struct xdp_md *ctx)
{
	struct flow_key key = {.addr = 1, .port = 80, .proto = 6};
	struct flow_stats *s = bpf_map_lookup_elem(&flows, &key);

	if (s)
		s->packets += 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
