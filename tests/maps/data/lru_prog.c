/* lru_prog.c - looks up (byte 14 == 0) or updates (otherwise) the u32 key at byte 16 of an LRU map.
 * MAP_TYPE, MAX_ENTRIES and MAP_FLAGS come from -D defines. */
#include <bpf_helpers.h>

struct {
	__uint(type, MAP_TYPE);
	__uint(max_entries, MAX_ENTRIES);
	__uint(map_flags, MAP_FLAGS);
	__type(key, __u32);
	__type(value, __u32);
} lru SEC(".maps");

SEC("xdp")
int p(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	if (data + 20 > end)
		return XDP_PASS;
	__u32 op = *(__u8 *)(data + 14), key = *(__u32 *)(data + 16);

	if (op == 0) {
		__u32 *v = bpf_map_lookup_elem(&lru, &key);
		if (v)
			return XDP_DROP;
	} else {
		bpf_map_update_elem(&lru, &key, &key, 0);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
