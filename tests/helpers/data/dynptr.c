/* dynptr.c - dynptr helpers driven by packet bytes: offset (14), length (15), flags (16), ring size (18). */
#include <bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096);} rb SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 16); __type(key, __u32); __type(value, __u64);} out SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, char[32]);} bufs SEC(".maps");
static __always_inline void put(__u32 i, __u64 v) { bpf_map_update_elem(&out, &i, &v, 0); }
SEC("xdp") int p(struct xdp_md *ctx) {
	void *data = (void *)(long)ctx->data; void *end = (void *)(long)ctx->data_end;
	if (data + 24 > end) return XDP_PASS;
	__u32 off = *(__u8 *)(data + 14), len = *(__u8 *)(data + 15) & 31, fl = *(__u8 *)(data + 16), rsz = *(__u16 *)(data + 18);
	__u32 z = 0;
	char *buf = bpf_map_lookup_elem(&bufs, &z);
	if (!buf) return XDP_PASS;
	if (fl & 32) __builtin_memcpy(buf, "abcdefghijklmnopqrstuvwxyz01234", 32);
	char dst[32] = {};
	struct bpf_dynptr d;
	put(0, bpf_dynptr_from_mem(buf, 24, fl & 1, &d));
	put(1, bpf_dynptr_read(dst, len, &d, off, fl & 2));
	put(2, *(__u64 *)dst);
	put(3, bpf_dynptr_write(&d, off, "XYZW", 4, fl & 4));
	put(4, *(__u64 *)(buf + 8));
	char *p = bpf_dynptr_data(&d, off, 8);
	put(5, p ? *(__u64 *)p : 0xdead);
	struct bpf_dynptr r;
	put(6, bpf_ringbuf_reserve_dynptr(&rb, rsz, fl & 8, &r));
	char *q = bpf_dynptr_data(&r, 0, 4);
	if (q) { q[0] = 'R'; q[1] = 'I'; q[2] = 'N'; q[3] = 'G'; }
	put(7, bpf_dynptr_write(&r, 0, "ok", 2, 0));
	if (fl & 16) bpf_ringbuf_discard_dynptr(&r, 0); else bpf_ringbuf_submit_dynptr(&r, 0);
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
