/* clocks.c - every clock helper once: ktime (mono, boot, coarse, tai) and jiffies64. */
#include <bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, __u64);} out SEC(".maps");
static __always_inline void put(__u32 i, __u64 v) { bpf_map_update_elem(&out, &i, &v, 0); }
SEC("xdp") int t(struct xdp_md *ctx) {
	put(0, bpf_ktime_get_ns()); put(1, bpf_ktime_get_boot_ns()); put(2, bpf_ktime_get_coarse_ns()); put(3, bpf_ktime_get_tai_ns()); put(4, bpf_jiffies64());
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
