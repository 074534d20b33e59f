// Sub-programs the kernel judges by linkage: static ones may return pointers, global ones are
// verified on their own; tail calls from sub-programs.
#include <bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u32);
} jumps SEC(".maps");

static __attribute__((noinline)) __u64 *slot_of(__u32 key) {
    return bpf_map_lookup_elem(&counters, &key);
}

SEC("xdp") int static_returns_map_value(struct xdp_md *ctx) {
    __u64 *v = slot_of(ctx->ingress_ifindex & 3);
    if (v)
        __sync_fetch_and_add(v, 1);
    return 2;
}

static __attribute__((noinline)) int jump_to(struct xdp_md *ctx, __u32 index) {
    bpf_tail_call(ctx, &jumps, index);
    return 1;
}

SEC("xdp") int tail_call_from_subprog(struct xdp_md *ctx) {
    return jump_to(ctx, 0) + 1;
}

__attribute__((noinline)) int global_reads_arg(__u32 *p) {
    return *p + 1;
}

SEC("xdp") int global_func_pointer_arg(struct xdp_md *ctx) {
    __u32 x = ctx->ingress_ifindex;
    return global_reads_arg(&x) & 3;
}

__attribute__((noinline)) int global_checks_arg(__u32 *p) {
    return p ? *p + 1 : 0;
}

SEC("xdp") int global_func_null_checked(struct xdp_md *ctx) {
    __u32 x = ctx->ingress_ifindex;
    return global_checks_arg(&x) & 3;
}

BPF_LICENSE("GPL");
