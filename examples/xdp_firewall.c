/* xdp_firewall.c - an XDP firewall: drop TCP and UDP packets sent to a blocked port.
 *
 * User space fills `blocked_ports` with the ports to drop (host byte order); the program
 * counts the drops per port in the map's value and every verdict in `verdicts`.
 * Runt or truncated frames are dropped; non-IP traffic and fragments pass.
 */
#include "parse.h"

/* blocked destination port (host order) -> packets dropped because of it */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u64);
} blocked_ports SEC(".maps");

/* XDP action (XDP_DROP, XDP_PASS, ...) -> packets that got that verdict */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

static __always_inline int verdict(__u32 action)
{
	__u64 *count = bpf_map_lookup_elem(&verdicts, &action);

	if (count)
		__sync_fetch_and_add(count, 1);
	return action;
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow f = {};
	int rc = parse_flow(data, data_end, &f);

	if (rc == PARSE_TRUNCATED)
		return verdict(XDP_DROP);
	if (rc == PARSE_NOT_IP || (f.ip_proto != IPPROTO_TCP && f.ip_proto != IPPROTO_UDP) ||
	    f.dport == 0)
		return verdict(XDP_PASS);

	__u16 port = f.dport;
	__u64 *hits = bpf_map_lookup_elem(&blocked_ports, &port);

	if (hits) {
		__sync_fetch_and_add(hits, 1);
		return verdict(XDP_DROP);
	}
	return verdict(XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
