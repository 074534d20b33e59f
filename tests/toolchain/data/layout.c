/* Compile-time checks of pybpf's context and packet struct layouts against the kernel ABI. */
#include <bpf_helpers.h>
#include <bpf_packet.h>

#define CHECK(type, field, off) _Static_assert(offsetof(type, field) == (off), #type "." #field)
#define SIZE(type, n) _Static_assert(sizeof(type) == (n), "sizeof " #type)

CHECK(struct xdp_md, data, 0);
CHECK(struct xdp_md, data_end, 4);
CHECK(struct xdp_md, data_meta, 8);
CHECK(struct xdp_md, ingress_ifindex, 12);
CHECK(struct xdp_md, rx_queue_index, 16);
CHECK(struct xdp_md, egress_ifindex, 20);
SIZE(struct xdp_md, 24);

CHECK(struct __sk_buff, len, 0);
CHECK(struct __sk_buff, mark, 8);
CHECK(struct __sk_buff, protocol, 16);
CHECK(struct __sk_buff, priority, 32);
CHECK(struct __sk_buff, ifindex, 40);
CHECK(struct __sk_buff, cb, 48);
CHECK(struct __sk_buff, hash, 68);
CHECK(struct __sk_buff, tc_classid, 72);
CHECK(struct __sk_buff, data, 76);
CHECK(struct __sk_buff, data_end, 80);
CHECK(struct __sk_buff, family, 88);
CHECK(struct __sk_buff, remote_ip6, 100);
CHECK(struct __sk_buff, local_port, 136);
CHECK(struct __sk_buff, data_meta, 140);
CHECK(struct __sk_buff, flow_keys, 144);
CHECK(struct __sk_buff, tstamp, 152);
CHECK(struct __sk_buff, wire_len, 160);
CHECK(struct __sk_buff, sk, 168);
CHECK(struct __sk_buff, gso_size, 176);
CHECK(struct __sk_buff, tstamp_type, 180);
CHECK(struct __sk_buff, hwtstamp, 184);
SIZE(struct __sk_buff, 192);

CHECK(struct bpf_sock, src_port, 44);
CHECK(struct bpf_sock, dst_port, 48);
CHECK(struct bpf_sock, dst_ip4, 52);
CHECK(struct bpf_sock, state, 72);
SIZE(struct bpf_sock, 80);
CHECK(struct bpf_sock_addr, user_port, 24);
CHECK(struct bpf_sock_addr, sk, 64);
SIZE(struct bpf_sock_addr, 72);

SIZE(struct ethhdr, 14);
CHECK(struct ethhdr, h_proto, 12);
SIZE(struct iphdr, 20);
CHECK(struct iphdr, ttl, 8);
CHECK(struct iphdr, protocol, 9);
CHECK(struct iphdr, saddr, 12);
CHECK(struct iphdr, daddr, 16);
SIZE(struct ipv6hdr, 40);
CHECK(struct ipv6hdr, nexthdr, 6);
CHECK(struct ipv6hdr, saddr, 8);
CHECK(struct ipv6hdr, daddr, 24);
SIZE(struct tcphdr, 20);
CHECK(struct tcphdr, seq, 4);
CHECK(struct tcphdr, window, 14);
CHECK(struct tcphdr, check, 16);
SIZE(struct udphdr, 8);
CHECK(struct udphdr, check, 6);
SIZE(struct icmphdr, 8);
SIZE(struct icmp6hdr, 8);
SIZE(struct vlan_hdr, 4);

SEC("xdp")
int layout_ok(struct xdp_md *ctx)
{
	/* ipv4 version/ihl share the first byte: version in the high nibble */
	struct iphdr ip = {.version = 4, .ihl = 5};
	return *(__u8 *)&ip; /* 0x45 */
}

char LICENSE[] SEC("license") = "GPL";
