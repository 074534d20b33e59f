/* port_counter.c - count packets and bytes per (transport protocol, destination port).
 *
 * The first packet to a port creates its entry with BPF_NOEXIST; later ones add to it
 * atomically. Every packet passes.
 */
#include "parse.h"

struct port_key {
	__u16 port; /* destination port, host order */
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;   /* always 0 */
};

struct port_stats {
	__u64 packets;
	__u64 bytes; /* whole frames, Ethernet header included */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct port_key);
	__type(value, struct port_stats);
} port_stats SEC(".maps");

SEC("xdp")
int count_ports(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow f = {};

	if (parse_flow(data, data_end, &f) != PARSE_OK)
		return XDP_PASS;
	if ((f.ip_proto != IPPROTO_TCP && f.ip_proto != IPPROTO_UDP) || !f.l4)
		return XDP_PASS; /* no port: not TCP/UDP, or a later IPv4 fragment */

	struct port_key key = {.port = f.dport, .proto = f.ip_proto, .pad = 0};
	__u64 len = data_end - data;
	struct port_stats *stats = bpf_map_lookup_elem(&port_stats, &key);

	if (!stats) {
		struct port_stats first = {.packets = 1, .bytes = len};

		if (bpf_map_update_elem(&port_stats, &key, &first, BPF_NOEXIST) == 0)
			return XDP_PASS;
		/* another CPU created it first: fall through and add to it */
		stats = bpf_map_lookup_elem(&port_stats, &key);
		if (!stats)
			return XDP_PASS;
	}
	__sync_fetch_and_add(&stats->packets, 1);
	__sync_fetch_and_add(&stats->bytes, len);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
