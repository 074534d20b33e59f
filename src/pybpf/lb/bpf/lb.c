/* lb.c - a Katran-style XDP load balancer: VIP -> Maglev ring -> real, IP-in-IP encapsulation.
 *
 * For a packet to a VIP (address, port, protocol) the program looks the flow up in a per-CPU
 * LRU connection table; on a miss it takes the real from the VIP's Maglev ring (built by the
 * control plane) at hash % ring_size and remembers the choice. It then prepends an outer IPv4
 * (IPIP, protocol 4) or IPv6 (protocol 41) header addressed to the real, with a source address
 * taken from the flow hash inside the configured outer_source prefix (so the real's NIC spreads
 * flows over its queues), and sends the frame back out with XDP_TX.
 *
 * As Katran does: IPv4 packets with options and IPv4/IPv6 fragments addressed to a VIP address
 * are dropped (they carry no ports to hash); ICMP "fragmentation needed" and ICMPv6 "packet too
 * big" messages about a VIP's flow are sent to the real that serves the flow, found from the
 * headers the message quotes; echo requests to a VIP address are answered (IPv4). Anything not
 * for a VIP passes to the stack. Packets and bytes are counted per VIP and per real.
 */
#include <bpf_helpers.h>
#include <bpf_endian.h>
#include <bpf_packet.h>

#define MAX_VIPS 512
#define MAX_REALS 4096
#define F_ADDR_ONLY 1 /* vips entry that only marks a VIP address (port 0, protocol 0) */

/* global counters after the per-VIP ones in vip_stats */
#define STAT_PASS 0     /* not for a VIP */
#define STAT_DROP_FRAG 1 /* fragment or IPv4 options to a VIP address */
#define STAT_CONN_MISS 2 /* new flow: the Maglev ring chose the real */
#define STAT_TOOBIG 3   /* ICMP too-big forwarded to a real */
#define STAT_NO_REAL 4  /* VIP without reals */
#define STAT_ECHO 5     /* echo replies sent */
#define STAT_DROP_SIZE 6 /* too long to encapsulate within max_packet */
#define STATS_EXTRA 8

struct vip_key {
	__be32 addr[4];
	__be16 port;
	__u8 proto;
	__u8 family;
};

struct vip_meta {
	__u32 vip_num;
	__u32 flags;
};

struct real_def {
	__be32 addr[4];
	__u32 family; /* 4 or 6; 0 = slot unused */
};

struct flow_key {
	__be32 src[4];
	__be32 dst[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct conn {
	__u32 real;
	__u32 vip_num;
};

struct lb_ctl {
	__u32 ring_size;
	__u32 max_packet; /* longest frame after encapsulation (bytes, Ethernet header included) */
	__u32 src4_net;   /* outer IPv4 source prefix, host order */
	__u32 src4_hostmask;
	__be32 src6_net[4];
	__u32 src6_hostmask; /* host bits of the last 32-bit word */
	__u8 gw_mac[6];      /* next hop's MAC; all zero: back to the sender's MAC */
	__u8 pad[2];
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * MAX_VIPS);
	__type(key, struct vip_key);
	__type(value, struct vip_meta);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65537); /* the control plane sizes it: max_vips * ring_size */
	__type(key, __u32);
	__type(value, __u32);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_REALS);
	__type(key, __u32);
	__type(value, struct real_def);
} reals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct conn);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_VIPS + STATS_EXTRA);
	__type(key, __u32);
	__type(value, struct counter);
} vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_REALS);
	__type(key, __u32);
	__type(value, struct counter);
} real_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_ctl);
} ctl SEC(".maps");

static __always_inline void count(void *map, __u32 index, __u64 bytes)
{
	struct counter *c = bpf_map_lookup_elem(map, &index);

	if (c) {
		c->packets += 1;
		c->bytes += bytes;
	}
}

static __always_inline int verdict(__u32 stat, int action)
{
	count(&vip_stats, MAX_VIPS + stat, 0);
	return action;
}

static __always_inline __u32 mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* The flow hash: source address, ports and protocol (the destination is the VIP's ring). */
static __always_inline __u32 flow_hash(const struct flow_key *k)
{
	__u32 h = 0x9e3779b9;

	h = mix32(h ^ k->src[0]);
	h = mix32(h ^ k->src[1]);
	h = mix32(h ^ k->src[2]);
	h = mix32(h ^ k->src[3]);
	h = mix32(h ^ (((__u32)k->sport << 16) | k->dport));
	return mix32(h ^ k->proto);
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline __u16 ipv4_csum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	return csum_fold(sum);
}

static __always_inline struct vip_meta *vip_lookup(__be32 *addr, __be16 port, __u8 proto,
						   __u8 family)
{
	struct vip_key key = {};

	key.addr[0] = addr[0];
	key.addr[1] = addr[1];
	key.addr[2] = addr[2];
	key.addr[3] = addr[3];
	key.port = port;
	key.proto = proto;
	key.family = family;
	return bpf_map_lookup_elem(&vips, &key);
}

/* The real for a flow: the connection table first, else the VIP's Maglev ring. */
static __always_inline struct real_def *pick_real(struct flow_key *flow, struct vip_meta *vip,
						  struct lb_ctl *cfg, __u32 hash, int remember,
						  __u32 *real_index)
{
	struct conn *known = bpf_map_lookup_elem(&conns, flow);
	__u32 index = 0;
	struct real_def *real;

	if (known && known->vip_num == vip->vip_num) {
		index = known->real;
		real = bpf_map_lookup_elem(&reals, &index);
		if (real && real->family) {
			*real_index = index;
			return real;
		}
	}
	if (!cfg->ring_size)
		return 0;
	__u32 slot = vip->vip_num * cfg->ring_size + hash % cfg->ring_size;
	__u32 *chosen = bpf_map_lookup_elem(&ring, &slot);

	if (!chosen || !*chosen)
		return 0;
	index = *chosen;
	real = bpf_map_lookup_elem(&reals, &index);
	if (!real || !real->family)
		return 0;
	count(&vip_stats, MAX_VIPS + STAT_CONN_MISS, 0);
	if (remember) {
		struct conn fresh = { .real = index, .vip_num = vip->vip_num };

		bpf_map_update_elem(&conns, flow, &fresh, BPF_ANY);
	}
	*real_index = index;
	return real;
}

static __always_inline void new_eth(struct ethhdr *eth, const __u8 *old_src, const __u8 *old_dst,
				    const struct lb_ctl *cfg, __u16 proto)
{
	int gw = cfg->gw_mac[0] | cfg->gw_mac[1] | cfg->gw_mac[2] | cfg->gw_mac[3] |
		 cfg->gw_mac[4] | cfg->gw_mac[5];

	if (gw)
		__builtin_memcpy(eth->h_dest, cfg->gw_mac, ETH_ALEN);
	else
		__builtin_memcpy(eth->h_dest, old_src, ETH_ALEN);
	__builtin_memcpy(eth->h_source, old_dst, ETH_ALEN);
	eth->h_proto = bpf_htons(proto);
}

static __always_inline int encap_v4(struct xdp_md *ctx, const struct real_def *real,
				    const struct lb_ctl *cfg, __u32 hash)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *inner = data + sizeof(struct ethhdr);
	__u8 old_src[ETH_ALEN], old_dst[ETH_ALEN];

	if ((void *)(inner + 1) > data_end)
		return XDP_DROP;
	__u16 inner_len = bpf_ntohs(inner->tot_len);
	__u8 tos = inner->tos;

	__builtin_memcpy(old_src, eth->h_source, ETH_ALEN);
	__builtin_memcpy(old_dst, eth->h_dest, ETH_ALEN);
	if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	struct iphdr *outer = data + sizeof(struct ethhdr);

	if ((void *)(outer + 1) > data_end)
		return XDP_DROP;
	new_eth(eth, old_src, old_dst, cfg, ETH_P_IP);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(inner_len + sizeof(struct iphdr));
	outer->id = 0;
	outer->frag_off = 0;
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = bpf_htonl(cfg->src4_net | (hash & cfg->src4_hostmask));
	outer->daddr = real->addr[0];
	outer->check = ipv4_csum(outer);
	return XDP_TX;
}

static __always_inline int encap_v6(struct xdp_md *ctx, const struct real_def *real,
				    const struct lb_ctl *cfg, __u32 hash)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *inner = data + sizeof(struct ethhdr);
	__u8 old_src[ETH_ALEN], old_dst[ETH_ALEN];

	if ((void *)(inner + 1) > data_end)
		return XDP_DROP;
	__u16 inner_len = bpf_ntohs(inner->payload_len) + sizeof(struct ipv6hdr);
	__u32 first = bpf_ntohl(*(__be32 *)inner);

	__builtin_memcpy(old_src, eth->h_source, ETH_ALEN);
	__builtin_memcpy(old_dst, eth->h_dest, ETH_ALEN);
	if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct ipv6hdr)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	struct ipv6hdr *outer = data + sizeof(struct ethhdr);

	if ((void *)(outer + 1) > data_end)
		return XDP_DROP;
	new_eth(eth, old_src, old_dst, cfg, ETH_P_IPV6);
	/* version 6, the inner traffic class, the flow hash as flow label */
	*(__be32 *)outer = bpf_htonl((6u << 28) | (first & 0x0ff00000) | (hash & 0xfffff));
	outer->payload_len = bpf_htons(inner_len);
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = 64;
	outer->saddr.in6_u.u6_addr32[0] = cfg->src6_net[0];
	outer->saddr.in6_u.u6_addr32[1] = cfg->src6_net[1];
	outer->saddr.in6_u.u6_addr32[2] = cfg->src6_net[2];
	outer->saddr.in6_u.u6_addr32[3] =
		bpf_htonl((bpf_ntohl(cfg->src6_net[3]) & ~cfg->src6_hostmask) |
			  (hash & cfg->src6_hostmask));
	outer->daddr.in6_u.u6_addr32[0] = real->addr[0];
	outer->daddr.in6_u.u6_addr32[1] = real->addr[1];
	outer->daddr.in6_u.u6_addr32[2] = real->addr[2];
	outer->daddr.in6_u.u6_addr32[3] = real->addr[3];
	return XDP_TX;
}

/* Send a VIP's packet to its real: count, choose, encapsulate. */
static __always_inline int forward(struct xdp_md *ctx, struct flow_key *flow,
				   struct vip_meta *vip, int remember, int v6)
{
	__u32 zero = 0;
	struct lb_ctl *cfg = bpf_map_lookup_elem(&ctl, &zero);
	__u64 bytes = ctx->data_end - ctx->data;
	__u32 index = 0;

	if (!cfg)
		return XDP_DROP;
	if (bytes + (v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr)) > cfg->max_packet)
		return verdict(STAT_DROP_SIZE, XDP_DROP);
	__u32 hash = flow_hash(flow);
	struct real_def *real = pick_real(flow, vip, cfg, hash, remember, &index);

	if (!real)
		return verdict(STAT_NO_REAL, XDP_DROP);
	if ((real->family == 6) != v6)
		return verdict(STAT_NO_REAL, XDP_DROP);
	count(&vip_stats, vip->vip_num, bytes);
	count(&real_stats, index, bytes);
	return v6 ? encap_v6(ctx, real, cfg, hash) : encap_v4(ctx, real, cfg, hash);
}

static __always_inline int echo_reply_v4(struct xdp_md *ctx, struct ethhdr *eth,
					 struct iphdr *ip, struct icmphdr *icmp)
{
	__u8 mac[ETH_ALEN];
	__be32 addr = ip->saddr;
	__u16 old_word = *(__u16 *)icmp;

	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
	ip->saddr = ip->daddr;
	ip->daddr = addr;
	icmp->type = ICMP_ECHOREPLY;
	/* RFC 1624: fold the changed type/code word into the checksum */
	__u32 sum = (__u16)~icmp->checksum + (__u16)~old_word + (__u32)(*(__u16 *)icmp);

	icmp->checksum = csum_fold(sum);
	return verdict(STAT_ECHO, XDP_TX);
}

static __always_inline int process_v4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct flow_key flow = {};
	struct vip_meta *vip;
	__be32 addr[4] = {};

	if ((void *)(ip + 1) > data_end)
		return verdict(STAT_PASS, XDP_PASS);
	addr[0] = ip->daddr;
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff))) {
		if (vip_lookup(addr, 0, 0, 4))
			return verdict(STAT_DROP_FRAG, XDP_DROP);
		return verdict(STAT_PASS, XDP_PASS);
	}
	void *l4 = (void *)(ip + 1);

	if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
		__be16 *ports = l4;

		if ((void *)(ports + 2) > data_end)
			return verdict(STAT_PASS, XDP_PASS);
		vip = vip_lookup(addr, ports[1], ip->protocol, 4);
		if (!vip)
			return verdict(STAT_PASS, XDP_PASS);
		flow.src[0] = ip->saddr;
		flow.dst[0] = ip->daddr;
		flow.sport = ports[0];
		flow.dport = ports[1];
		flow.proto = ip->protocol;
		return forward(ctx, &flow, vip, 1, 0);
	}
	if (ip->protocol != IPPROTO_ICMP)
		return verdict(STAT_PASS, XDP_PASS);
	struct icmphdr *icmp = l4;

	if ((void *)(icmp + 1) > data_end)
		return verdict(STAT_PASS, XDP_PASS);
	if (icmp->type == ICMP_ECHO && icmp->code == 0) {
		if (!vip_lookup(addr, 0, 0, 4))
			return verdict(STAT_PASS, XDP_PASS);
		return echo_reply_v4(ctx, eth, ip, icmp);
	}
	if (icmp->type != ICMP_DEST_UNREACH || icmp->code != ICMP_FRAG_NEEDED)
		return verdict(STAT_PASS, XDP_PASS);
	/* the quoted packet went from the VIP to the client: look its flow up reversed */
	struct iphdr *quoted = (void *)(icmp + 1);
	__be16 *qports = (void *)(quoted + 1);

	if ((void *)(qports + 2) > data_end || quoted->ihl != 5)
		return verdict(STAT_PASS, XDP_PASS);
	addr[0] = quoted->saddr;
	vip = vip_lookup(addr, qports[0], quoted->protocol, 4);
	if (!vip)
		return verdict(STAT_PASS, XDP_PASS);
	flow.src[0] = quoted->daddr;
	flow.dst[0] = quoted->saddr;
	flow.sport = qports[1];
	flow.dport = qports[0];
	flow.proto = quoted->protocol;
	count(&vip_stats, MAX_VIPS + STAT_TOOBIG, 0);
	return forward(ctx, &flow, vip, 0, 0);
}

static __always_inline void copy6(__be32 *dst, const struct in6_addr *src)
{
	dst[0] = src->in6_u.u6_addr32[0];
	dst[1] = src->in6_u.u6_addr32[1];
	dst[2] = src->in6_u.u6_addr32[2];
	dst[3] = src->in6_u.u6_addr32[3];
}

static __always_inline int process_v6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip = data + sizeof(struct ethhdr);
	struct flow_key flow = {};
	struct vip_meta *vip;
	__be32 addr[4];

	if ((void *)(ip + 1) > data_end)
		return verdict(STAT_PASS, XDP_PASS);
	copy6(addr, &ip->daddr);
	void *l4 = (void *)(ip + 1);

	if (ip->nexthdr == IPPROTO_FRAGMENT) {
		if (vip_lookup(addr, 0, 0, 6))
			return verdict(STAT_DROP_FRAG, XDP_DROP);
		return verdict(STAT_PASS, XDP_PASS);
	}
	if (ip->nexthdr == IPPROTO_TCP || ip->nexthdr == IPPROTO_UDP) {
		__be16 *ports = l4;

		if ((void *)(ports + 2) > data_end)
			return verdict(STAT_PASS, XDP_PASS);
		vip = vip_lookup(addr, ports[1], ip->nexthdr, 6);
		if (!vip)
			return verdict(STAT_PASS, XDP_PASS);
		copy6(flow.src, &ip->saddr);
		copy6(flow.dst, &ip->daddr);
		flow.sport = ports[0];
		flow.dport = ports[1];
		flow.proto = ip->nexthdr;
		return forward(ctx, &flow, vip, 1, 1);
	}
	if (ip->nexthdr != IPPROTO_ICMPV6)
		return verdict(STAT_PASS, XDP_PASS);
	struct icmp6hdr *icmp = l4;

	if ((void *)(icmp + 1) > data_end || icmp->icmp6_type != ICMPV6_PKT_TOOBIG)
		return verdict(STAT_PASS, XDP_PASS);
	struct ipv6hdr *quoted = (void *)(icmp + 1);
	__be16 *qports = (void *)(quoted + 1);

	if ((void *)(qports + 2) > data_end)
		return verdict(STAT_PASS, XDP_PASS);
	copy6(addr, &quoted->saddr);
	vip = vip_lookup(addr, qports[0], quoted->nexthdr, 6);
	if (!vip)
		return verdict(STAT_PASS, XDP_PASS);
	copy6(flow.src, &quoted->daddr);
	copy6(flow.dst, &quoted->saddr);
	flow.sport = qports[1];
	flow.dport = qports[0];
	flow.proto = quoted->nexthdr;
	count(&vip_stats, MAX_VIPS + STAT_TOOBIG, 0);
	return forward(ctx, &flow, vip, 0, 1);
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return verdict(STAT_PASS, XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return process_v4(ctx);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return process_v6(ctx);
	return verdict(STAT_PASS, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
