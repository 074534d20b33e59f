/* A bloom filter with map_extra declared through __ulong (an enum member), and a static
 * function placed in a program section and called from it (a sub-program, not a program). */
#include "common.h"
#define __ulong(name, val) enum { name##_value = (val) } name

struct {
    __uint(type, 30 /* BPF_MAP_TYPE_BLOOM_FILTER */);
    __uint(max_entries, 256);
    __type(value, __u32);
    __ulong(map_extra, 3);
} bloom SEC(".maps");

static __noinline __attribute__((section("xdp"))) int twice(int x) { return x * 2; }

SEC("xdp") int uses_bloom(struct xdp_md *ctx)
{
    return twice(ctx->ingress_ifindex) > 4 ? 1 : 2;
}
char LICENSE[] SEC("license") = "GPL";
