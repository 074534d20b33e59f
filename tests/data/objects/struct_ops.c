/* A struct_ops variable (a TCP congestion control) whose function pointers name its programs. */
#include "common.h"

struct sock;
struct tcp_congestion_ops {
    void (*init)(struct sock *sk);
    __u32 (*ssthresh)(struct sock *sk);
    void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
    __u32 (*undo_cwnd)(struct sock *sk);
    char name[16];
};

SEC("struct_ops/pybpf_init") void pybpf_init(__u64 *ctx) {}
SEC("struct_ops/pybpf_ssthresh") __u32 pybpf_ssthresh(__u64 *ctx) { return 2; }
SEC("struct_ops/pybpf_undo") __u32 pybpf_undo(__u64 *ctx) { return 10; }

SEC(".struct_ops.link") struct tcp_congestion_ops pybpf_cc = {
    .init = (void *)pybpf_init,
    .ssthresh = (void *)pybpf_ssthresh,
    .undo_cwnd = (void *)pybpf_undo,
    .name = "pybpf_cc",
};
char LICENSE[] SEC("license") = "GPL";
