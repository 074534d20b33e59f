/* parse.h - shared by the examples: parse Ethernet / IPv4 / IPv6 / TCP / UDP headers safely.
 *
 * Every header is bounds-checked against data_end before it is read, in the way the kernel
 * verifier needs to see it. Ports come out in host byte order, addresses as in the packet.
 */
#ifndef EXAMPLES_PARSE_H
#define EXAMPLES_PARSE_H

#include <bpf_helpers.h>
#include <bpf_endian.h>
#include <bpf_packet.h>

struct flow {
	__u16 eth_proto; /* EtherType, host order (ETH_P_IP, ETH_P_IPV6, ...) */
	__u8 ip_proto;   /* IPPROTO_TCP, IPPROTO_UDP, ... (0 when not IP) */
	__u8 tcp_flags;  /* the TCP flag byte (TCPHDR_SYN, ...), 0 otherwise */
	__u16 sport;     /* TCP/UDP source port, host order (0 when not TCP/UDP) */
	__u16 dport;     /* TCP/UDP destination port, host order */
	__be32 saddr4;   /* IPv4 addresses, network order (0 for IPv6) */
	__be32 daddr4;
	void *l3;        /* start of the IP header */
	void *l4;        /* start of the TCP/UDP/ICMP header; NULL for a later IPv4 fragment */
};

enum parse_result {
	PARSE_OK = 0,        /* flow filled in up to the transport header */
	PARSE_NOT_IP = 1,    /* neither IPv4 nor IPv6: only eth_proto is set */
	PARSE_TRUNCATED = 2, /* a header runs past the end of the packet */
};

/* Parse the headers of the frame [data, data_end) into *f. */
static __always_inline int parse_flow(void *data, void *data_end, struct flow *f)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return PARSE_TRUNCATED;
	f->eth_proto = bpf_ntohs(eth->h_proto);
	f->l3 = eth + 1;

	if (f->eth_proto == ETH_P_IP) {
		struct iphdr *ip = f->l3;

		if ((void *)(ip + 1) > data_end)
			return PARSE_TRUNCATED;
		if (ip->ihl < 5)
			return PARSE_TRUNCATED;
		f->ip_proto = ip->protocol;
		f->saddr4 = ip->saddr;
		f->daddr4 = ip->daddr;
		/* later fragments carry no transport header */
		if (ip->frag_off & bpf_htons(IP_OFFSET))
			return PARSE_OK;
		f->l4 = (void *)ip + ip->ihl * 4;
	} else if (f->eth_proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = f->l3;

		if ((void *)(ip6 + 1) > data_end)
			return PARSE_TRUNCATED;
		f->ip_proto = ip6->nexthdr;
		f->l4 = ip6 + 1;
	} else {
		return PARSE_NOT_IP;
	}

	if (f->ip_proto == IPPROTO_TCP) {
		struct tcphdr *tcp = f->l4;

		if ((void *)(tcp + 1) > data_end)
			return PARSE_TRUNCATED;
		f->sport = bpf_ntohs(tcp->source);
		f->dport = bpf_ntohs(tcp->dest);
		f->tcp_flags = ((__u8 *)tcp)[13];
	} else if (f->ip_proto == IPPROTO_UDP) {
		struct udphdr *udp = f->l4;

		if ((void *)(udp + 1) > data_end)
			return PARSE_TRUNCATED;
		f->sport = bpf_ntohs(udp->source);
		f->dport = bpf_ntohs(udp->dest);
	}
	return PARSE_OK;
}

#endif /* EXAMPLES_PARSE_H */
