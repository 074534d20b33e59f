/* execsnoop.c - a gadget: one event per successful exec(), from tracepoint sched/sched_process_exec.
 *
 * The context layout is the tracepoint's format file
 * (/sys/kernel/tracing/events/sched/sched_process_exec/format). Set `target_uid` to report one
 * user only (the default, -1, reports everyone).
 */
#include <bpf_helpers.h>

struct sched_process_exec_args {
	__u16 common_type;
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
	__u32 filename_loc; /* __data_loc char[]: offset in the low 16 bits, length in the high */
	__s32 pid;
	__s32 old_pid;
};

struct event {
	__u32 pid;
	__u32 tid;
	__u32 uid;
	char comm[16];
	char filename[128];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__type(value, struct event);
} events SEC(".maps");

const volatile __u32 target_uid = (__u32)-1;

SEC("tracepoint/sched/sched_process_exec")
int execsnoop(struct sched_process_exec_args *ctx)
{
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 off = ctx->filename_loc & 0xFFFF;
	struct event *e;

	if (target_uid != (__u32)-1 && uid != target_uid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->uid = uid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
