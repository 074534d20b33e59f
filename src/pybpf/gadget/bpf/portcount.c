/* portcount.c - a gadget: packets and bytes per (transport protocol, destination port), and a
 * log2 histogram of packet sizes, counted by an XDP program.
 *
 * Every packet passes. On the kernel engine it attaches to an interface
 * (`pybpf gadget run portcount --interface IFACE`); on the user-space engines it runs over a
 * capture (`pybpf gadget run portcount --pcap FILE`). IPv4 and IPv6 (without extension headers),
 * TCP and UDP; `only_proto` (6 or 17) counts one protocol only (0, the default, counts both).
 */
#include <bpf_helpers.h>
#include <bpf_endian.h>
#include <bpf_packet.h>

/* the transport protocols counted, named as they print (IPPROTO_TCP, IPPROTO_UDP) */
enum l4_protocol {
	TCP = 6,
	UDP = 17,
};

struct port_key {
	enum l4_protocol proto;
	__u32 port; /* destination port, host order */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct port_key);
	__type(value, __u64);
} packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct port_key);
	__type(value, __u64);
} bytes SEC(".maps");

/* slot = bpftrace's log2 bucket of the frame length: 1 for 0, k + 2 for [2^k, 2^(k+1)) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} sizes SEC(".maps");

const volatile __u8 only_proto = 0;

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 r = 0;

	if (v == 0)
		return 1;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r + 2;
}

static __always_inline void add(void *map, struct port_key *key, __u64 n)
{
	__u64 *count = bpf_map_lookup_elem(map, key);

	if (count)
		__sync_fetch_and_add(count, n);
	else
		bpf_map_update_elem(map, key, &n, BPF_NOEXIST);
}

SEC("xdp")
int portcount(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 len = data_end - data;
	__u32 slot = log2_slot(len);
	__u64 *hist = bpf_map_lookup_elem(&sizes, &slot);
	struct port_key key = {};
	void *l4;
	__u8 proto;

	if (hist)
		__sync_fetch_and_add(hist, 1);
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(0x1FFF))
			return XDP_PASS; /* a later fragment: no ports */
		proto = ip->protocol;
		l4 = (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		proto = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		return XDP_PASS;
	}
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return XDP_PASS;
		key.port = bpf_ntohs(tcp->dest);
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return XDP_PASS;
		key.port = bpf_ntohs(udp->dest);
	} else {
		return XDP_PASS;
	}
	if (only_proto && proto != only_proto)
		return XDP_PASS;
	key.proto = proto;
	add(&packets, &key, 1);
	add(&bytes, &key, len);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
