/* tcpconnect.c - a gadget: one event per outgoing TCP connection once it is answered, from the
 * tracepoint sock/inet_sock_set_state, sent through a perf buffer.
 *
 * The connecting process is remembered when the socket enters TCP_SYN_SENT (connect() runs in
 * its context); when the socket leaves TCP_SYN_SENT the event reports the outcome as the new
 * state: TCP_ESTABLISHED (accepted) or TCP_CLOSE (refused, reset or timed out). The context
 * layout is the tracepoint's format file
 * (/sys/kernel/tracing/events/sock/inet_sock_set_state/format). Set `target_pid` to watch one
 * process only (0, the default, watches every process).
 */
#include <bpf_helpers.h>

#define IPPROTO_TCP 6

enum address_family {
	AF_INET = 2,
	AF_INET6 = 10,
};

enum tcp_state {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT = 2,
	TCP_SYN_RECV = 3,
	TCP_FIN_WAIT1 = 4,
	TCP_FIN_WAIT2 = 5,
	TCP_TIME_WAIT = 6,
	TCP_CLOSE = 7,
	TCP_CLOSE_WAIT = 8,
	TCP_LAST_ACK = 9,
	TCP_LISTEN = 10,
	TCP_CLOSING = 11,
	TCP_NEW_SYN_RECV = 12,
};

struct inet_sock_set_state_args {
	__u16 common_type;
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
	__u64 skaddr;
	__s32 oldstate;
	__s32 newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

struct owner {
	__u32 pid;
	__u32 uid;
	char comm[16];
};

struct event {
	__u32 pid;
	__u32 uid;
	char comm[16];
	enum address_family family;
	__u8 saddr[16]; /* IPv4 addresses as IPv4-mapped IPv6 (::ffff:a.b.c.d) */
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	enum tcp_state state;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

/* sockets in TCP_SYN_SENT and who connected them */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct owner);
} connecting SEC(".maps");

const volatile __u32 target_pid = 0;

static __always_inline void copy_addr(__u8 *dst, const __u8 *v4, const __u8 *v6, __u16 family)
{
	int i;

	if (family == AF_INET) {
#pragma unroll
		for (i = 0; i < 10; i++)
			dst[i] = 0;
		dst[10] = 0xff;
		dst[11] = 0xff;
#pragma unroll
		for (i = 0; i < 4; i++)
			dst[12 + i] = v4[i];
		return;
	}
#pragma unroll
	for (i = 0; i < 16; i++)
		dst[i] = v6[i];
}

/* a sub-program, so that struct event is in the object's BTF: the gadget's columns come from it */
static __attribute__((noinline)) int submit(void *tp, struct event *e)
{
	return bpf_perf_event_output(tp, &events, BPF_F_CURRENT_CPU, e, sizeof(*e));
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcpconnect(struct inet_sock_set_state_args *tp)
{
	struct inet_sock_set_state_args args = {}, *ctx = &args;
	struct owner *who;
	struct event e = {};
	__u64 sk;

	/* a copy on the stack: the addresses are then read through plain pointers */
	if (bpf_probe_read_kernel(&args, sizeof(args), tp))
		return 0;
	sk = ctx->skaddr;
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (ctx->newstate == TCP_SYN_SENT) {
		struct owner o = {};

		o.pid = bpf_get_current_pid_tgid() >> 32;
		if (target_pid && o.pid != target_pid)
			return 0;
		o.uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(o.comm, sizeof(o.comm));
		bpf_map_update_elem(&connecting, &sk, &o, BPF_ANY);
		return 0;
	}
	if (ctx->oldstate != TCP_SYN_SENT)
		return 0;
	who = bpf_map_lookup_elem(&connecting, &sk);
	if (!who)
		return 0;
	e.pid = who->pid;
	e.uid = who->uid;
	__builtin_memcpy(e.comm, who->comm, sizeof(e.comm));
	e.family = ctx->family;
	copy_addr(e.saddr, ctx->saddr, ctx->saddr_v6, ctx->family);
	copy_addr(e.daddr, ctx->daddr, ctx->daddr_v6, ctx->family);
	e.sport = ctx->sport;
	e.dport = ctx->dport;
	e.state = ctx->newstate;
	bpf_map_delete_elem(&connecting, &sk);
	submit(tp, &e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
