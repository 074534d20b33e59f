/* opensnoop.c - a gadget: one event per openat() call, from tracepoint syscalls/sys_enter_openat.
 *
 * The context layout is the tracepoint's format file
 * (/sys/kernel/tracing/events/syscalls/sys_enter_openat/format). Set `target_pid` to watch one
 * process only (0, the default, watches every process).
 */
#include <bpf_helpers.h>

struct sys_enter_openat_args {
	__u16 common_type;
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
	__s32 syscall_nr;
	__u32 pad;
	__u64 dfd;
	__u64 filename; /* const char __user * */
	__u64 flags;
	__u64 mode;
};

struct event {
	__u32 pid;
	__u32 uid;
	__u32 flags;
	char comm[16];
	char fname[160];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__type(value, struct event);
} events SEC(".maps");

/* opens per process: a metric for the manifest */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} opens SEC(".maps");

const volatile __u32 target_pid = 0;

SEC("tracepoint/syscalls/sys_enter_openat")
int opensnoop(struct sys_enter_openat_args *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *count;
	struct event *e;

	if (target_pid && pid != target_pid)
		return 0;
	count = bpf_map_lookup_elem(&opens, &pid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&opens, &pid, &one, BPF_NOEXIST);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = pid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->flags = (__u32)ctx->flags;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->fname, sizeof(e->fname), (const void *)ctx->filename);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
