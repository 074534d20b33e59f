/* A call to a kernel function (kfunc) the object does not define: recorded as an extern call. */
#include "common.h"

extern __u64 bpf_ktime_get_coarse_ns_kfunc(void) __attribute__((section(".ksyms")));
extern void *bpf_cast_to_kern_ctx(void *obj) __attribute__((section(".ksyms"), weak));

SEC("xdp") int use_kfunc(struct xdp_md *ctx)
{
    void *kctx = bpf_cast_to_kern_ctx(ctx);
    return kctx ? 2 : 1;
}
char LICENSE[] SEC("license") = "GPL";
