// bpf-to-bpf calls with stack pointers passed down.
#include <bpf_helpers.h>

static __attribute__((noinline)) int fill(__u64 *buf, int n) {
    for (int i = 0; i < 4; i++) buf[i] = n + i;
    return buf[3];
}

static __attribute__((noinline)) int twice(int x) {
    __u64 buf[4];
    return fill(buf, x) + fill(buf, x + 1);
}

SEC("xdp") int calls(struct xdp_md *ctx) {
    return twice(ctx->rx_queue_index) & 3;
}
BPF_LICENSE("GPL");
