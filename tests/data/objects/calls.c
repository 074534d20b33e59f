/* bpf-to-bpf calls: nested static functions, a global function, a bpf_loop callback. */
#include "common.h"

static __noinline int leaf(int x) { return x + 1; }
static __noinline int middle(int x) { return leaf(x) * 2; }
__noinline int global_fn(int x) { return middle(x) + leaf(x); }
static int cb(__u32 i, void *ctx) { (*(int *)ctx) += i; return 0; }

SEC("xdp") int caller(struct xdp_md *ctx)
{
    int acc = 0;
    bpf_loop(4, cb, &acc, 0);
    return global_fn(ctx->data_end - ctx->data) + acc;
}
SEC("tc") int other(struct __sk_buff *skb) { return leaf(skb->len); }
char LICENSE[] SEC("license") = "GPL";
