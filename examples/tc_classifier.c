/* tc_classifier.c - a tc (cls_bpf, direct action) classifier for egress or ingress.
 *
 * Sorts traffic into classes and tells the qdisc through skb->priority and skb->mark:
 *   class 1 "interactive": TCP port 22 (ssh) and UDP port 53 (dns), either direction;
 *   class 2 "bulk":        TCP ports 80 and 443 (web);
 *   class 0 "default":     everything else.
 * Packets from the blocked IPv4 network (`blocked_net`/`blocked_prefix` in .rodata, set
 * by user space before loading; 192.0.2.0/24 by default) are dropped with TC_ACT_SHOT.
 * `class_packets` counts packets per class, index 3 counting drops.
 */
#include "parse.h"

#define CLASS_DEFAULT 0
#define CLASS_INTERACTIVE 1
#define CLASS_BULK 2
#define CLASS_DROPPED 3
#define MARK_BASE 0xC1A5500

const volatile __u32 blocked_net = 0xC0000200; /* 192.0.2.0, host order */
const volatile __u32 blocked_prefix = 24;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} class_packets SEC(".maps");

static __always_inline void count(__u32 class)
{
	__u64 *n = bpf_map_lookup_elem(&class_packets, &class);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline int is_port(struct flow *f, __u16 port)
{
	return f->sport == port || f->dport == port;
}

SEC("tc")
int classify(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct flow f = {};
	__u32 class = CLASS_DEFAULT;

	if (parse_flow(data, data_end, &f) == PARSE_OK) {
		if (f.eth_proto == ETH_P_IP && blocked_prefix <= 32) {
			__u32 mask = blocked_prefix ? ~0U << (32 - blocked_prefix) : 0;

			if ((bpf_ntohl(f.saddr4) & mask) == (blocked_net & mask)) {
				count(CLASS_DROPPED);
				return TC_ACT_SHOT;
			}
		}
		if ((f.ip_proto == IPPROTO_TCP && is_port(&f, 22)) ||
		    (f.ip_proto == IPPROTO_UDP && is_port(&f, 53)))
			class = CLASS_INTERACTIVE;
		else if (f.ip_proto == IPPROTO_TCP && (is_port(&f, 80) || is_port(&f, 443)))
			class = CLASS_BULK;
	}
	skb->priority = class;
	skb->mark = MARK_BASE | class;
	count(class);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
