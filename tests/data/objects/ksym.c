/* A typed per-CPU kernel variable (`extern const struct rq runqueues __ksym`): lddw BPF_PSEUDO_BTF_ID. */
#include "common.h"
#define __ksym __attribute__((section(".ksyms")))

struct rq;
extern const struct rq runqueues __ksym;
static void *(*bpf_per_cpu_ptr)(const void *percpu_ptr, __u32 cpu) = (void *)153;

SEC("tp_btf/sched_switch") int use_ksym(__u64 *ctx)
{
    return bpf_per_cpu_ptr(&runqueues, 0) ? 0 : 0;
}
char LICENSE[] SEC("license") = "GPL";
