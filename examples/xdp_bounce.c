/* xdp_bounce.c - answer packets from XDP: rewrite them in place and send them back (XDP_TX).
 *
 *  - ICMP echo request (IPv4) and ICMPv6 echo request become echo replies;
 *  - UDP to the echo port (7) is reflected with its payload unchanged;
 * in both cases the MAC addresses, the IP addresses and (for UDP) the ports are swapped.
 * Swapping keeps the IP and UDP checksums valid (a one's-complement sum does not depend on
 * the order of its words); the ICMP type change is folded into the checksum incrementally
 * as RFC 1624 describes. Everything else passes. `bounced` counts the packets sent back.
 */
#include "parse.h"

#define ECHO_PORT 7

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bounced SEC(".maps");

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), on 16-bit words as stored in the packet. */
static __always_inline __u16 csum_replace16(__u16 check, __u16 old_word, __u16 new_word)
{
	__u32 sum = (__u16)~check + (__u16)~old_word + (__u32)new_word;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
	unsigned char tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
}

static __always_inline int send_back(void)
{
	__u32 zero = 0;
	__u64 *count = bpf_map_lookup_elem(&bounced, &zero);

	if (count)
		__sync_fetch_and_add(count, 1);
	return XDP_TX;
}

SEC("xdp")
int xdp_bounce(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow f = {};

	if (parse_flow(data, data_end, &f) != PARSE_OK || !f.l4)
		return XDP_PASS;

	if (f.eth_proto == ETH_P_IP) {
		struct iphdr *ip = f.l3;

		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		if (f.ip_proto == IPPROTO_ICMP) {
			struct icmphdr *icmp = f.l4;

			if ((void *)(icmp + 1) > data_end || icmp->type != ICMP_ECHO || icmp->code != 0)
				return XDP_PASS;
			__u16 old_word = *(__u16 *)icmp; /* type and code */
			icmp->type = ICMP_ECHOREPLY;
			icmp->checksum = csum_replace16(icmp->checksum, old_word, *(__u16 *)icmp);
		} else if (f.ip_proto == IPPROTO_UDP && f.dport == ECHO_PORT) {
			struct udphdr *udp = f.l4;

			if ((void *)(udp + 1) > data_end)
				return XDP_PASS;
			__be16 port = udp->source;
			udp->source = udp->dest;
			udp->dest = port;
		} else {
			return XDP_PASS;
		}
		__be32 addr = ip->saddr;
		ip->saddr = ip->daddr;
		ip->daddr = addr;
	} else if (f.eth_proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = f.l3;

		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		if (f.ip_proto == IPPROTO_ICMPV6) {
			struct icmp6hdr *icmp6 = f.l4;

			if ((void *)(icmp6 + 1) > data_end || icmp6->icmp6_type != ICMPV6_ECHO_REQUEST ||
			    icmp6->icmp6_code != 0)
				return XDP_PASS;
			__u16 old_word = *(__u16 *)icmp6;
			icmp6->icmp6_type = ICMPV6_ECHO_REPLY;
			icmp6->icmp6_cksum = csum_replace16(icmp6->icmp6_cksum, old_word, *(__u16 *)icmp6);
		} else if (f.ip_proto == IPPROTO_UDP && f.dport == ECHO_PORT) {
			struct udphdr *udp = f.l4;

			if ((void *)(udp + 1) > data_end)
				return XDP_PASS;
			__be16 port = udp->source;
			udp->source = udp->dest;
			udp->dest = port;
		} else {
			return XDP_PASS;
		}
		struct in6_addr addr = ip6->saddr;
		ip6->saddr = ip6->daddr;
		ip6->daddr = addr;
	} else {
		return XDP_PASS;
	}

	swap_macs(data);
	return send_back();
}

char LICENSE[] SEC("license") = "GPL";
