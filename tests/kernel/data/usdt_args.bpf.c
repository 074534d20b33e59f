/* libbpf-style USDT programs (usdt.bpf.h's BPF_USDT and bpf_usdt_* helpers) on the probes of
 * usdt_target.c: each firing sends the arguments it read, the argument count and size, the attach
 * cookie and the pid to the `events` ring buffer. APP is the probed binary's path (-DAPP="..."). */
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#ifndef APP
#define APP "./usdt_target"
#endif

struct event {
	__u32 probe;
	__u32 pid;
	__s32 arg_cnt;
	__s32 size0;
	__s64 args[6];
	__u64 cookie;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static __always_inline struct event *start(struct pt_regs *ctx, __u32 probe)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->probe = probe;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->arg_cnt = bpf_usdt_arg_cnt(ctx);
	e->size0 = bpf_usdt_arg_size(ctx, 0);
	e->cookie = bpf_usdt_cookie(ctx);
	return e;
}

SEC("usdt/" APP ":test:args")
int BPF_USDT(on_args, int round, long big, unsigned char small, short s, long stored, int c)
{
	struct event *e = start(ctx, 1);

	if (!e)
		return 0;
	e->args[0] = round;
	e->args[1] = big;
	e->args[2] = small;
	e->args[3] = s;
	e->args[4] = stored;
	e->args[5] = c;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("usdt/" APP ":test:sib")
int BPF_USDT(on_sib, int first, int second)
{
	struct event *e = start(ctx, 2);

	if (!e)
		return 0;
	e->args[0] = first;
	e->args[1] = second;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* without BPF_USDT: the argument read by number */
SEC("usdt")
int on_site(struct pt_regs *ctx)
{
	struct event *e = start(ctx, 3);
	long value = 0;

	if (!e)
		return 0;
	e->args[0] = bpf_usdt_arg(ctx, 0, &value);
	e->args[1] = value;
	e->args[2] = bpf_usdt_arg(ctx, 1, &value);  /* -ENOENT: the probe has one argument */
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
