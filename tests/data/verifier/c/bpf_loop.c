// bpf_loop with a callback that updates a context on the caller's stack.
#include <bpf_helpers.h>

struct loop_ctx { __u64 sum; __u32 limit; };

static int step(__u32 index, void *data) {
    struct loop_ctx *c = data;
    c->sum += index;
    return c->sum > c->limit ? 1 : 0;
}

SEC("xdp") int loop_sum(struct xdp_md *ctx) {
    struct loop_ctx c = { .sum = 0, .limit = 100 };
    bpf_loop(20, step, &c, 0);
    return c.sum & 3;
}
BPF_LICENSE("GPL");
