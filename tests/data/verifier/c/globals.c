// Global data: .rodata constants, .data and .bss counters.
#include <bpf_helpers.h>

const volatile __u32 limit = 10;
const volatile __u32 table[4] = {1, 2, 3, 4};
__u64 hits = 0;
__u64 seen = 7;

SEC("xdp") int use_globals(struct xdp_md *ctx) {
    __u32 len = ctx->data_end - ctx->data;
    hits++;
    seen += len;
    if (len > limit) return XDP_DROP;
    return table[len & 3] > 2 ? XDP_PASS : XDP_DROP;
}
BPF_LICENSE("GPL");
