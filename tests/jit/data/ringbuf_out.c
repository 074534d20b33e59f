/* bpf_ringbuf_output of a packet-sized sample with packet-chosen flags, for JIT vs interpreter. */
#include <bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} events SEC(".maps");

struct sample {
    __u32 seq;
    __u32 len;
    __u8 bytes[40];
};

SEC("xdp") int ringbuf_out(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct sample s = {};
    if (data + 48 > end)
        return 0;
    __u8 *p = data;
    s.seq = p[0];
    s.len = p[1] % 41;
    for (int i = 0; i < 40; i++)
        s.bytes[i] = p[8 + i];
    __u64 flags = p[2] % 5;  /* 0, 1 (no wakeup), 2 (force), 3, 4 (invalid) */
    return bpf_ringbuf_output(&events, &s, 8 + s.len, flags) + 100;
}

char LICENSE[] SEC("license") = "GPL";
