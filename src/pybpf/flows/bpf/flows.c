/* flows.c - pybpf flows datapath: one flow event per IP packet on tc ingress/egress, plus an
 * ordered L3/L4 policy enforced in the same program.
 *
 * Every IPv4/IPv6 packet seen by `flows_ingress` / `flows_egress` (tcx or cls_bpf programs) is
 * parsed with bpf_skb_load_bytes (so non-linear skbs work too), matched against the rules in
 * the `policy` array (first match wins, default allow; a denied packet is dropped with
 * TC_ACT_SHOT) and reported through the `events` ring buffer as a struct flow_event. When the
 * ring buffer is full the event is counted in stats[STAT_LOST]: loss is never silent.
 *
 * With `aggregate` set (const volatile, set before loading), the packets of one connection
 * (5-tuple, interface, direction) are folded into `conns`: an event is emitted only for a new
 * connection, a TCP flag not seen before on it, or a changed verdict; the others only count.
 * Non-IP frames (ARP, ...) are counted in stats[STAT_NON_IP] and pass silently.
 */
#include <bpf_helpers.h>
#include <bpf_endian.h>
#include <bpf_packet.h>

#define DIR_INGRESS 0
#define DIR_EGRESS 1
#define VERDICT_FORWARDED 1
#define VERDICT_DROPPED 2
#define DROP_POLICY_DENIED 133 /* Hubble/Cilium DropReason POLICY_DENIED */

#define MAX_RULES 64
#define ACTION_ALLOW 0
#define ACTION_DENY 1

enum stat {
	STAT_SEEN = 0,       /* IP packets processed (one event each, or aggregated) */
	STAT_LOST = 1,       /* events the ring buffer had no room for */
	STAT_NON_IP = 2,     /* frames that are neither IPv4 nor IPv6 */
	STAT_DROPPED = 3,    /* packets dropped by the policy */
	STAT_AGGREGATED = 4, /* packets folded into an existing connection without an event */
	STAT_TRUNCATED = 5,  /* IP packets too short for their headers (reported without L4) */
	STAT_MAX = 8,
};

const volatile __u8 aggregate = 0;

struct flow_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u64 bytes;     /* bytes of the flow so far (the packet's length without aggregation) */
	__u32 packets;   /* packets of the flow so far (1 without aggregation) */
	__u32 ifindex;
	__u32 len;       /* skb->len of this packet */
	__u16 eth_proto; /* host order */
	__u8 direction;
	__u8 verdict;
	__u8 drop_reason;
	__u8 ip_version; /* 4 or 6 */
	__u8 l4_proto;   /* IPPROTO_* */
	__u8 tcp_flags;  /* FIN..CWR, the 13th byte of the TCP header */
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 sport;     /* host order */
	__u16 dport;
	__u8 tcp_ns;     /* the NS (nonce) bit */
	__u8 pad0;
	__u32 rule;      /* 1 + index of the policy rule that matched, 0 for the default */
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u8 pad1[4];
	__u8 saddr[16];  /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
};

struct policy_rule {
	__u32 addr[4];   /* network order words; IPv4 in addr[0] */
	__u32 mask[4];
	__u16 port_lo;   /* host order; destination port range */
	__u16 port_hi;
	__u8 valid;
	__u8 action;
	__u8 directions; /* bit 0 ingress, bit 1 egress */
	__u8 protocol;   /* 0 any, else IPPROTO_* */
	__u8 family;     /* 0 any, 4 or 6 */
	__u8 has_port;
	__u8 pad[2];
};

struct conn_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 ifindex;
	__u8 l4_proto;
	__u8 direction;
	__u8 icmp_type;
	__u8 ip_version;
};

struct conn_value {
	__u64 packets;
	__u64 bytes;
	__u8 flags_seen;
	__u8 verdict;
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct policy_rule);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct conn_key);
	__type(value, struct conn_value);
} conns SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &which);

	if (n)
		*n += 1; /* per-CPU: no atomics needed */
}

/* Parse the frame into *ev; returns 0 for an IP packet, -1 otherwise. */
static __always_inline int parse(struct __sk_buff *skb, struct flow_event *ev)
{
	struct ethhdr eth;
	__u32 l4_off;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return -1;
	__builtin_memcpy(ev->src_mac, eth.h_source, 6);
	__builtin_memcpy(ev->dst_mac, eth.h_dest, 6);
	ev->eth_proto = bpf_ntohs(eth.h_proto);

	if (ev->eth_proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
			return -1;
		ev->ip_version = 4;
		ev->l4_proto = ip.protocol;
		__builtin_memcpy(ev->saddr, &ip.saddr, 4);
		__builtin_memcpy(ev->daddr, &ip.daddr, 4);
		if (ip.frag_off & bpf_htons(0x1fff))
			return 0; /* a later fragment: no transport header */
		l4_off = ETH_HLEN + ip.ihl * 4;
	} else if (ev->eth_proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)) < 0)
			return -1;
		ev->ip_version = 6;
		ev->l4_proto = ip6.nexthdr;
		__builtin_memcpy(ev->saddr, &ip6.saddr, 16);
		__builtin_memcpy(ev->daddr, &ip6.daddr, 16);
		l4_off = ETH_HLEN + sizeof(ip6);
	} else {
		return -1;
	}

	if (ev->l4_proto == IPPROTO_TCP) {
		__u8 tcp[14];

		if (bpf_skb_load_bytes(skb, l4_off, tcp, sizeof(tcp)) < 0)
			goto truncated;
		ev->sport = (tcp[0] << 8) | tcp[1];
		ev->dport = (tcp[2] << 8) | tcp[3];
		ev->tcp_ns = tcp[12] & 1;
		ev->tcp_flags = tcp[13];
	} else if (ev->l4_proto == IPPROTO_UDP) {
		__u8 udp[4];

		if (bpf_skb_load_bytes(skb, l4_off, udp, sizeof(udp)) < 0)
			goto truncated;
		ev->sport = (udp[0] << 8) | udp[1];
		ev->dport = (udp[2] << 8) | udp[3];
	} else if (ev->l4_proto == IPPROTO_ICMP || ev->l4_proto == IPPROTO_ICMPV6) {
		__u8 icmp[2];

		if (bpf_skb_load_bytes(skb, l4_off, icmp, sizeof(icmp)) < 0)
			goto truncated;
		ev->icmp_type = icmp[0];
		ev->icmp_code = icmp[1];
	}
	return 0;
truncated:
	count(STAT_TRUNCATED);
	return 0;
}

/* What a policy rule is matched against (a copy: the bpf_loop callback reads only this). */
struct match_ctx {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 dport;
	__u8 l4_proto;
	__u8 ip_version;
	__u32 dirbit;
	__u32 result; /* (1 + rule index) << 1 | action, 0 when no rule matched */
};

static __always_inline int rule_matches(const struct policy_rule *r, const struct match_ctx *m)
{
	__u32 src_diff = 0, dst_diff = 0;

	if (!(r->directions & m->dirbit))
		return 0;
	if (r->protocol && r->protocol != m->l4_proto)
		return 0;
	if (r->family && r->family != m->ip_version)
		return 0;
	if (r->has_port) {
		if (m->l4_proto != IPPROTO_TCP && m->l4_proto != IPPROTO_UDP)
			return 0;
		if (m->dport < r->port_lo || m->dport > r->port_hi)
			return 0;
	}
#pragma unroll
	for (int i = 0; i < 4; i++) {
		src_diff |= (m->saddr[i] & r->mask[i]) ^ r->addr[i];
		dst_diff |= (m->daddr[i] & r->mask[i]) ^ r->addr[i];
	}
	return src_diff == 0 || dst_diff == 0; /* the CIDR matches either address */
}

/* bpf_loop callback, verified once: 1 stops the loop (a match, or the end of the rules). */
static long match_rule(__u32 index, void *data)
{
	struct match_ctx *m = data;
	__u32 key = index;
	struct policy_rule *r = bpf_map_lookup_elem(&policy, &key);

	if (!r || !r->valid)
		return 1;
	if (rule_matches(r, m)) {
		m->result = ((index + 1) << 1) | (r->action & 1);
		return 1;
	}
	return 0;
}

/* First match wins over the ordered rules; 0 is the default (allow). */
static __always_inline __u32 policy_verdict(const struct flow_event *ev, __u32 dirbit)
{
	struct match_ctx m = {};

	__builtin_memcpy(m.saddr, ev->saddr, 16);
	__builtin_memcpy(m.daddr, ev->daddr, 16);
	m.dport = ev->dport;
	m.l4_proto = ev->l4_proto;
	m.ip_version = ev->ip_version;
	m.dirbit = dirbit;
	bpf_loop(MAX_RULES, match_rule, &m, 0);
	return m.result;
}

/* With aggregation: 1 if this packet needs an event (new connection, new flag, new verdict). */
static __always_inline int aggregate_packet(struct flow_event *ev)
{
	struct conn_key key = {};
	struct conn_value *v;

	__builtin_memcpy(key.saddr, ev->saddr, 16);
	__builtin_memcpy(key.daddr, ev->daddr, 16);
	key.sport = ev->sport;
	key.dport = ev->dport;
	key.ifindex = ev->ifindex;
	key.l4_proto = ev->l4_proto;
	key.direction = ev->direction;
	key.icmp_type = ev->icmp_type;
	key.ip_version = ev->ip_version;
	v = bpf_map_lookup_elem(&conns, &key);
	if (v) {
		__u64 packets = __sync_fetch_and_add(&v->packets, 1) + 1;
		__u64 bytes = __sync_fetch_and_add(&v->bytes, ev->len) + ev->len;

		if ((v->flags_seen | ev->tcp_flags) == v->flags_seen && v->verdict == ev->verdict) {
			count(STAT_AGGREGATED);
			return 0;
		}
		v->flags_seen |= ev->tcp_flags;
		v->verdict = ev->verdict;
		ev->packets = packets;
		ev->bytes = bytes;
		return 1;
	}
	struct conn_value fresh = {.packets = 1, .bytes = ev->len, .flags_seen = ev->tcp_flags,
				   .verdict = ev->verdict};
	bpf_map_update_elem(&conns, &key, &fresh, BPF_ANY);
	return 1;
}

static __always_inline int observe(struct __sk_buff *skb, __u8 direction)
{
	struct flow_event ev = {};
	__u32 verdict;

	if (parse(skb, &ev) < 0) {
		count(STAT_NON_IP);
		return TC_ACT_UNSPEC;
	}
	count(STAT_SEEN);
	ev.ts_ns = bpf_ktime_get_ns();
	ev.ifindex = skb->ifindex;
	ev.len = skb->len;
	ev.packets = 1;
	ev.bytes = skb->len;
	ev.direction = direction;
	verdict = policy_verdict(&ev, direction == DIR_INGRESS ? 1 : 2);
	ev.rule = verdict >> 1;
	if ((verdict & 1) == ACTION_DENY) {
		ev.verdict = VERDICT_DROPPED;
		ev.drop_reason = DROP_POLICY_DENIED;
		count(STAT_DROPPED);
	} else {
		ev.verdict = VERDICT_FORWARDED;
	}
	if (!aggregate || aggregate_packet(&ev)) {
		if (bpf_ringbuf_output(&events, &ev, sizeof(ev), 0) < 0)
			count(STAT_LOST);
	}
	return ev.verdict == VERDICT_DROPPED ? TC_ACT_SHOT : TC_ACT_UNSPEC;
}

SEC("tc")
int flows_ingress(struct __sk_buff *skb)
{
	return observe(skb, DIR_INGRESS);
}

SEC("tc")
int flows_egress(struct __sk_buff *skb)
{
	return observe(skb, DIR_EGRESS);
}

BPF_LICENSE("GPL");
