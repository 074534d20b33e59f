/* perf_out.c - sends the first N bytes of the packet payload (N = byte 14) as a perf sample. */
#include <bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

SEC("xdp")
int send(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 buf[32] = {};

	if (data + 48 > data_end)
		return XDP_PASS;
	__u8 n = *(__u8 *)(data + 14) & 31;
	__builtin_memcpy(buf, data + 16, 32);
	bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, buf, n);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
