/* pybpf test program: BPF_PROG on a raw tracepoint, BPF_UPROBE/BPF_URETPROBE, BPF_CORE_READ chains,
 * BPF_CORE_READ_STR_INTO and PT_REGS_*_CORE_SYSCALL, written against a vmlinux.h and <bpf/...>. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

/* slot numbers of `seen` */
#define SEEN_SYSCALL_HITS 0
#define SEEN_PPID 1
#define SEEN_UPROBE_PID 2
#define SEEN_UPROBE_SIG 3
#define SEEN_URETPROBE_RC 4
#define SEEN_UPROBE_HITS 5
#define SEEN_COMM_OK 6

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __s64);
} seen SEC(".maps");

const volatile int target_tgid = 0;
const volatile char target_comm[16] = {};

static __always_inline void store(__u32 slot, __s64 value)
{
	__s64 *v = bpf_map_lookup_elem(&seen, &slot);
	if (v)
		*v = value;
}

static __always_inline void bump(__u32 slot)
{
	__s64 *v = bpf_map_lookup_elem(&seen, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int ours(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == (__u32)target_tgid;
}

/* raw_tp/sys_enter: (struct pt_regs *regs, long id); kill(getpid(), 0) from the test process */
SEC("raw_tp/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task;
	char comm[16];
	int i, same = 1;

	if (!ours())
		return 0;
	if (PT_REGS_PARM1_CORE_SYSCALL(regs) != target_tgid || PT_REGS_PARM2_CORE_SYSCALL(regs) != 0)
		return 0;
	bump(SEEN_SYSCALL_HITS);
	task = (struct task_struct *)bpf_get_current_task();
	store(SEEN_PPID, BPF_CORE_READ(task, real_parent, tgid));
	BPF_CORE_READ_STR_INTO(&comm, task, group_leader, comm);
	for (i = 0; i < 16; i++) {
		if (comm[i] != target_comm[i])
			same = 0;
		if (!comm[i])
			break;
	}
	store(SEEN_COMM_OK, same);
	return 0;
}

/* libc's kill(pid, sig) */
SEC("uprobe")
int BPF_UPROBE(on_kill, int pid, int sig)
{
	if (!ours())
		return 0;
	bump(SEEN_UPROBE_HITS);
	store(SEEN_UPROBE_PID, pid);
	store(SEEN_UPROBE_SIG, sig);
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(on_kill_ret, int ret)
{
	if (ours())
		store(SEEN_URETPROBE_RC, ret);
	return 0;
}
