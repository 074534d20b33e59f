/* user_ringbuf.c - drains a user ring buffer, logging each sample (and whether the dynptr gives a
 * direct pointer) into `log`; the callback stops early on a sample starting with 'S'. */
#include <bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} input SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} log SEC(".maps");

static __always_inline void put(__u32 i, __u64 v)
{
	bpf_map_update_elem(&log, &i, &v, 0);
}

static long handle(struct bpf_dynptr *d, void *ctx)
{
	__u32 *n = ctx;
	__u64 word = 0;
	long err = bpf_dynptr_read(&word, 8, d, 0, 0);
	__u32 slot = 2 + (*n & 31) * 2;

	put(slot, err ? (__u64)err : word);
	put(slot + 1, bpf_dynptr_data(d, 0, 1) != 0);
	*n += 1;
	return (word & 0xff) == 'S';
}

SEC("xdp")
int drain(struct xdp_md *ctx)
{
	__u32 n = 0;
	long r = bpf_user_ringbuf_drain(&input, handle, &n, 0);

	put(0, r);
	put(1, n);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
