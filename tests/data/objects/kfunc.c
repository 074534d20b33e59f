/* Kernel functions called from BPF (`__ksym` kfuncs), resolved against the running kernel's BTF;
 * a weak kfunc no kernel has is only called behind an existence check. */
#include "common.h"
#define __ksym __attribute__((section(".ksyms")))

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern int pybpf_no_such_kfunc(void) __ksym __attribute__((weak));

SEC("xdp") int use_kfunc(struct xdp_md *ctx)
{
    void *kctx = bpf_cast_to_kern_ctx(ctx);
    if (pybpf_no_such_kfunc)
        return pybpf_no_such_kfunc();
    return kctx ? 2 : 1;
}
char LICENSE[] SEC("license") = "GPL";
