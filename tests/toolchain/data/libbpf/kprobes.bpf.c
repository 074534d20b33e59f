/* pybpf test program: every kprobe-style wrapper (BPF_KPROBE, BPF_KRETPROBE with and without its
 * argument, BPF_KSYSCALL, BPF_KPROBE_SYSCALL, BPF_USDT), PT_REGS_* and _CORE accessors, relocated
 * bitfields, field/type/enum relocations, bpf_printk with 0..5 arguments, BPF_SNPRINTF,
 * perf_event samples. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>
#include <asm-generic/errno.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

extern int LINUX_KERNEL_VERSION __kconfig;

/* a local flavour of a kernel struct: relocated by its essential name */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline void keep(__u32 key, __u64 value)
{
	bpf_map_update_elem(&values, &key, &value, BPF_ANY);
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(on_unlink, int dfd, struct filename *name)
{
	const char *path = BPF_CORE_READ(name, name);
	char buf[32];

	bpf_probe_read_kernel_str(buf, sizeof(buf), path);
	keep(1, dfd);
	keep(2, PT_REGS_PARM3(ctx) + PT_REGS_IP(ctx) + PT_REGS_SP(ctx) + PT_REGS_FP(ctx));
	keep(3, PT_REGS_PARM1_CORE(ctx) + PT_REGS_RC_CORE(ctx) + PT_REGS_IP_CORE(ctx));
	bpf_printk("unlink");
	bpf_printk("unlink %d", dfd);
	bpf_printk("unlink %d %s %lx", dfd, buf, (long)name);
	bpf_printk("unlink %d %d %d %d %d", 1, 2, 3, 4, 5);
	BPF_SNPRINTF(buf, sizeof(buf), "%d:%d", dfd, 7);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(on_unlink_ret, long ret)
{
	__u64 ip = 0;

	BPF_KRETPROBE_READ_RET_IP(ip, ctx);
	keep(4, ret == -ENOENT ? 1 : ret);
	keep(5, ip);
	return 0;
}

/* no named argument at all */
SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(on_unlink_ret_bare)
{
	keep(6, PT_REGS_RC(ctx));
	return 0;
}

SEC("ksyscall/kill")
int BPF_KSYSCALL(on_kill, pid_t pid, int sig)
{
	struct pt_regs *regs = PT_REGS_SYSCALL_REGS(ctx);

	keep(7, pid);
	keep(8, sig + (regs ? 1 : 0));
	return 0;
}

SEC("kprobe/__x64_sys_tgkill")
int BPF_KPROBE_SYSCALL(on_tgkill, pid_t tgid, pid_t pid, int sig)
{
	keep(9, tgid + pid + sig);
	return 0;
}

SEC("kprobe/finish_task_switch")
int BPF_KPROBE(on_switch, struct task_struct *prev)
{
	__u64 ip = 0;
	unsigned long long exiting = BPF_CORE_READ_BITFIELD_PROBED(prev, in_execve);
	int state;

	BPF_KPROBE_READ_RET_IP(ip, ctx);
	if (bpf_core_field_exists(prev->__state))
		state = BPF_CORE_READ(prev, __state);
	else if (bpf_core_field_exists(struct task_struct___old, state))
		state = BPF_CORE_READ((struct task_struct___old *)prev, state);
	else
		state = -1;
	keep(10, state + exiting + ip);
	keep(11, bpf_core_field_size(struct task_struct, pid) + bpf_core_field_offset(prev->tgid));
	keep(12, bpf_core_type_exists(struct task_struct) + bpf_core_type_size(struct task_struct) +
		 bpf_core_type_matches(struct list_head));
	if (bpf_core_enum_value_exists(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF))
		keep(13, bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF));
	keep(14, LINUX_KERNEL_VERSION >= KERNEL_VERSION(5, 8, 0));
	return 0;
}

SEC("usdt/./app:provider:probe")
int BPF_USDT(on_probe, int x, long y, const char *s)
{
	long third = 0;

	bpf_usdt_arg(ctx, 2, &third);
	keep(15, x + y + bpf_usdt_arg_cnt(ctx) + bpf_usdt_arg_size(ctx, 0) + bpf_usdt_cookie(ctx) + third);
	return 0;
}

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	keep(16, PT_REGS_IP(&ctx->regs));
	return 0;
}
