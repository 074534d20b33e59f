/* ringbuf_events.c - report new connections to user space through a BPF ring buffer.
 *
 * Every TCP SYN (a connection attempt) is reported with bpf_ringbuf_reserve/submit, and
 * every UDP packet to port 53 (a DNS query) with bpf_ringbuf_output. The event layout is
 * `struct event` below (32 bytes, little-endian). Events the ring buffer has no room for
 * are counted in the global `counters.lost` (.bss). All packets pass.
 */
#include "parse.h"

#define EVENT_TCP_SYN 1
#define EVENT_DNS_QUERY 2

struct event {
	__u32 kind;     /* EVENT_TCP_SYN or EVENT_DNS_QUERY */
	__u32 len;      /* frame length */
	__be32 saddr;   /* IPv4 source (0 for IPv6) */
	__be32 daddr;   /* IPv4 destination (0 for IPv6) */
	__u16 sport;    /* host order */
	__u16 dport;    /* host order */
	__u16 eth_proto;
	__u8 ip_proto;
	__u8 tcp_flags;
	__u64 seq;      /* running number of the event, from 1 */
};

/* The value type documents the records (ring buffers have no values): it puts `struct event`
 * into the object's BTF, where `pybpf attach` finds it to decode the events. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
	__type(value, struct event);
} events SEC(".maps");

/* globals in .bss: one struct keeps their layout fixed for user space */
struct counters {
	__u64 seq;  /* events produced so far */
	__u64 lost; /* events dropped because the ring buffer was full */
} counters;

static __always_inline void fill(struct event *e, __u32 kind, struct flow *f, __u32 len)
{
	e->kind = kind;
	e->len = len;
	e->saddr = f->saddr4;
	e->daddr = f->daddr4;
	e->sport = f->sport;
	e->dport = f->dport;
	e->eth_proto = f->eth_proto;
	e->ip_proto = f->ip_proto;
	e->tcp_flags = f->tcp_flags;
	e->seq = __sync_add_and_fetch(&counters.seq, 1);
}

SEC("xdp")
int report_connections(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow f = {};
	__u32 len = data_end - data;

	if (parse_flow(data, data_end, &f) != PARSE_OK)
		return XDP_PASS;

	if (f.ip_proto == IPPROTO_TCP && (f.tcp_flags & (TCPHDR_SYN | TCPHDR_ACK)) == TCPHDR_SYN) {
		struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

		if (!e) {
			__sync_fetch_and_add(&counters.lost, 1);
			return XDP_PASS;
		}
		fill(e, EVENT_TCP_SYN, &f, len);
		bpf_ringbuf_submit(e, 0);
	} else if (f.ip_proto == IPPROTO_UDP && f.dport == 53) {
		struct event e = {};

		fill(&e, EVENT_DNS_QUERY, &f, len);
		if (bpf_ringbuf_output(&events, &e, sizeof(e), 0) != 0)
			__sync_fetch_and_add(&counters.lost, 1);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
