/* xdp_parser: parse Ethernet / (VLAN) / IPv4 or IPv6 / TCP or UDP; drop TCP port 80. */
#include "bench.h"

struct eth { __u8 dst[6], src[6]; __u16 proto; };
struct vlan { __u16 tci, proto; };
struct ipv4 { __u8 ver_ihl, tos; __u16 len, id, frag; __u8 ttl, proto; __u16 csum; __u32 saddr, daddr; };
struct ipv6 { __u32 vtc_flow; __u16 plen; __u8 nexthdr, hop; __u8 saddr[16], daddr[16]; };
struct ports { __u16 source, dest; };

#define BE16(x) ((__u16)((((x) & 0xff) << 8) | (((x) >> 8) & 0xff)))

BENCH(xdp_parser)
{
    void *data = DATA(ctx), *end = DATA_END(ctx);
    struct eth *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_DROP;
    __u16 proto = eth->proto;
    void *cursor = eth + 1;
    if (proto == BE16(0x8100)) {
        struct vlan *vlan = cursor;
        if ((void *)(vlan + 1) > end)
            return XDP_DROP;
        proto = vlan->proto;
        cursor = vlan + 1;
    }
    __u8 l4;
    if (proto == BE16(0x0800)) {
        struct ipv4 *ip = cursor;
        if ((void *)(ip + 1) > end)
            return XDP_DROP;
        __u32 ihl = (ip->ver_ihl & 0xf) * 4;
        if (ihl < sizeof(*ip))
            return XDP_DROP;
        l4 = ip->proto;
        cursor = (void *)ip + ihl;
    } else if (proto == BE16(0x86dd)) {
        struct ipv6 *ip6 = cursor;
        if ((void *)(ip6 + 1) > end)
            return XDP_DROP;
        l4 = ip6->nexthdr;
        cursor = ip6 + 1;
    } else {
        return XDP_PASS;
    }
    if (l4 != 6 && l4 != 17)
        return XDP_PASS;
    struct ports *ports = cursor;
    if ((void *)(ports + 1) > end)
        return XDP_DROP;
    if (l4 == 6 && ports->dest == BE16(80))
        return XDP_DROP;
    return XDP_PASS;
}

LICENSE_GPL;
