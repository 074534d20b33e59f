/* SPDX-License-Identifier: MIT */
/*
 * bpf_packet.h - packet header layouts and protocol numbers for eBPF packet programs (pybpf):
 * Ethernet, 802.1Q VLAN, ARP, IPv4, IPv6, TCP, UDP, ICMP and ICMPv6, written from the
 * protocols' RFCs and the kernel's documented uapi layouts. Multi-byte fields are in network
 * byte order: compare them with bpf_htons()/bpf_htonl() from bpf_endian.h.
 * If <linux/if_ether.h> & co. or a vmlinux.h were included first, their definitions are kept.
 */
#ifndef __PYBPF_BPF_PACKET_H
#define __PYBPF_BPF_PACKET_H

#include "bpf_uapi.h"

/* ---- Ethernet (IEEE 802.3) --------------------------------------------------------------- */
#if !defined(_LINUX_IF_ETHER_H) && !defined(_UAPI_LINUX_IF_ETHER_H) && !defined(__VMLINUX_H__)
#define ETH_ALEN 6         /* octets in a MAC address */
#define ETH_TLEN 2         /* octets in the EtherType field */
#define ETH_HLEN 14        /* octets in an Ethernet header */
#define ETH_ZLEN 60        /* minimum frame length without the FCS */
#define ETH_DATA_LEN 1500  /* maximum payload */
#define ETH_FRAME_LEN 1514 /* maximum frame length without the FCS */

/* EtherTypes (host order; use bpf_htons() to compare with ethhdr.h_proto) */
#define ETH_P_LOOP 0x0060
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_RARP 0x8035
#define ETH_P_8021Q 0x8100
#define ETH_P_IPX 0x8137
#define ETH_P_IPV6 0x86DD
#define ETH_P_PAUSE 0x8808
#define ETH_P_SLOW 0x8809
#define ETH_P_MPLS_UC 0x8847
#define ETH_P_MPLS_MC 0x8848
#define ETH_P_PPP_DISC 0x8863
#define ETH_P_PPP_SES 0x8864
#define ETH_P_8021AD 0x88A8
#define ETH_P_LLDP 0x88CC
#define ETH_P_MACSEC 0x88E5
#define ETH_P_8021AH 0x88E7
#define ETH_P_1588 0x88F7
#define ETH_P_LOOPBACK 0x9000
#define ETH_P_ALL 0x0003

struct ethhdr {
	unsigned char h_dest[ETH_ALEN];
	unsigned char h_source[ETH_ALEN];
	__be16 h_proto;
} __attribute__((packed));
#endif

/* 802.1Q tag as it follows the two MAC addresses (TPID is the ethhdr's h_proto). */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};
#define VLAN_VID_MASK 0x0fff
#define VLAN_PRIO_MASK 0xe000
#define VLAN_PRIO_SHIFT 13

/* ---- ARP (RFC 826) ------------------------------------------------------------------------- */
#if !defined(_LINUX_IF_ARP_H) && !defined(_UAPI_LINUX_IF_ARP_H) && !defined(__VMLINUX_H__)
#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1
#define ARPOP_REPLY 2
struct arphdr {
	__be16 ar_hrd;
	__be16 ar_pro;
	unsigned char ar_hln;
	unsigned char ar_pln;
	__be16 ar_op;
};
#endif

/* ---- IP protocol numbers (IANA) ------------------------------------------------------------ */
#if !defined(_LINUX_IN_H) && !defined(_UAPI_LINUX_IN_H) && !defined(__VMLINUX_H__) && \
	!defined(IPPROTO_TCP)
enum {
	IPPROTO_IP = 0,
	IPPROTO_ICMP = 1,
	IPPROTO_IGMP = 2,
	IPPROTO_IPIP = 4,
	IPPROTO_TCP = 6,
	IPPROTO_EGP = 8,
	IPPROTO_PUP = 12,
	IPPROTO_UDP = 17,
	IPPROTO_IDP = 22,
	IPPROTO_TP = 29,
	IPPROTO_DCCP = 33,
	IPPROTO_IPV6 = 41,
	IPPROTO_RSVP = 46,
	IPPROTO_GRE = 47,
	IPPROTO_ESP = 50,
	IPPROTO_AH = 51,
	IPPROTO_MTP = 92,
	IPPROTO_BEETPH = 94,
	IPPROTO_ENCAP = 98,
	IPPROTO_PIM = 103,
	IPPROTO_COMP = 108,
	IPPROTO_L2TP = 115,
	IPPROTO_SCTP = 132,
	IPPROTO_UDPLITE = 136,
	IPPROTO_MPLS = 137,
	IPPROTO_ETHERNET = 143,
	IPPROTO_RAW = 255,
	IPPROTO_MPTCP = 262,
};
#endif
#if !defined(_LINUX_IN6_H) && !defined(_UAPI_LINUX_IN6_H) && !defined(__VMLINUX_H__) && \
	!defined(IPPROTO_ICMPV6)
/* IPv6 extension headers and ICMPv6 */
enum {
	IPPROTO_HOPOPTS = 0,
	IPPROTO_ROUTING = 43,
	IPPROTO_FRAGMENT = 44,
	IPPROTO_ICMPV6 = 58,
	IPPROTO_NONE = 59,
	IPPROTO_DSTOPTS = 60,
	IPPROTO_MH = 135,
};
struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be16 u6_addr16[8];
		__be32 u6_addr32[4];
	} in6_u;
};
#define s6_addr in6_u.u6_addr8
#define s6_addr16 in6_u.u6_addr16
#define s6_addr32 in6_u.u6_addr32
#endif

/* ---- IPv4 (RFC 791) ------------------------------------------------------------------------- */
#if !defined(_LINUX_IP_H) && !defined(_UAPI_LINUX_IP_H) && !defined(__VMLINUX_H__)
#define IPVERSION 4
#define IP_DF 0x4000     /* don't fragment (host order, frag_off) */
#define IP_MF 0x2000     /* more fragments */
#define IP_OFFSET 0x1FFF /* fragment offset mask */

struct iphdr {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u8 ihl : 4, version : 4;
#else
	__u8 version : 4, ihl : 4;
#endif
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};
#endif

/* ---- IPv6 (RFC 8200) ------------------------------------------------------------------------ */
#if !defined(_IPV6_H) && !defined(_UAPI_IPV6_H) && !defined(__VMLINUX_H__)
struct ipv6hdr {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u8 priority : 4, version : 4;
#else
	__u8 version : 4, priority : 4;
#endif
	__u8 flow_lbl[3];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	struct in6_addr saddr;
	struct in6_addr daddr;
};

/* Generic IPv6 extension header (hop-by-hop, routing, destination options). */
struct ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen; /* in 8-octet units, not counting the first 8 */
};
struct frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};
#endif

/* ---- TCP (RFC 9293) -------------------------------------------------------------------------- */
#if !defined(_LINUX_TCP_H) && !defined(_UAPI_LINUX_TCP_H) && !defined(__VMLINUX_H__)
struct tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u16 res1 : 4, doff : 4, fin : 1, syn : 1, rst : 1, psh : 1, ack : 1, urg : 1, ece : 1,
		cwr : 1;
#else
	__u16 doff : 4, res1 : 4, cwr : 1, ece : 1, urg : 1, ack : 1, psh : 1, rst : 1, syn : 1,
		fin : 1;
#endif
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};
#endif
/* TCP flag bits of the 13th header byte */
#define TCPHDR_FIN 0x01
#define TCPHDR_SYN 0x02
#define TCPHDR_RST 0x04
#define TCPHDR_PSH 0x08
#define TCPHDR_ACK 0x10
#define TCPHDR_URG 0x20
#define TCPHDR_ECE 0x40
#define TCPHDR_CWR 0x80

/* ---- UDP (RFC 768) ------------------------------------------------------------------------------ */
#if !defined(_LINUX_UDP_H) && !defined(_UAPI_LINUX_UDP_H) && !defined(__VMLINUX_H__)
struct udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__sum16 check;
};
#endif

/* ---- ICMP (RFC 792) and ICMPv6 (RFC 4443) ----------------------------------------------------- */
#if !defined(_LINUX_ICMP_H) && !defined(_UAPI_LINUX_ICMP_H) && !defined(__VMLINUX_H__)
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_REDIRECT 5
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMP_TIMESTAMP 13
#define ICMP_TIMESTAMPREPLY 14
#define ICMP_FRAG_NEEDED 4 /* code of ICMP_DEST_UNREACH */

struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	union {
		struct {
			__be16 id;
			__be16 sequence;
		} echo;
		__be32 gateway;
		struct {
			__be16 __unused;
			__be16 mtu;
		} frag;
		__u8 reserved[4];
	} un;
};
#endif

#if !defined(_LINUX_ICMPV6_H) && !defined(_UAPI_LINUX_ICMPV6_H) && !defined(__VMLINUX_H__)
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3
#define ICMPV6_PARAMPROB 4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129
#define NDISC_ROUTER_SOLICITATION 133
#define NDISC_ROUTER_ADVERTISEMENT 134
#define NDISC_NEIGHBOUR_SOLICITATION 135
#define NDISC_NEIGHBOUR_ADVERTISEMENT 136

struct icmp6hdr {
	__u8 icmp6_type;
	__u8 icmp6_code;
	__sum16 icmp6_cksum;
	union {
		__be32 un_data32[1];
		__be16 un_data16[2];
		__u8 un_data8[4];
		struct {
			__be16 identifier;
			__be16 sequence;
		} u_echo;
	} icmp6_dataun;
};
#define icmp6_identifier icmp6_dataun.u_echo.identifier
#define icmp6_sequence icmp6_dataun.u_echo.sequence
#endif

#endif /* __PYBPF_BPF_PACKET_H */
