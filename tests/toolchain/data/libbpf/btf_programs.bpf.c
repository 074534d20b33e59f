/* pybpf test program: BTF-typed programs (tp_btf, fentry/fexit with BPF_PROG and BPF_PROG2, an
 * iterator with BPF_SEQ_PRINTF), open-coded loops (bpf_for, bpf_repeat, bpf_for_each), kfuncs from
 * vmlinux.h (bpf_ksym_exists, bpf_task_from_pid) and bpf_core_cast. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

__u64 switches = 0;
__u64 loops = 0;

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	int i, sum = 0;
	int *v;

	bpf_for(i, 0, 4)
		sum += i;
	bpf_repeat(2)
		sum++;
	bpf_for_each(num, v, 0, 3)
		sum += *v;
	loops = sum;
	if (prev->pid != next->pid)
		__sync_fetch_and_add(&switches, 1);
	return 0;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(on_unlink, int dfd, struct filename *name)
{
	struct task_struct *t;

	if (bpf_ksym_exists(bpf_task_from_pid)) {
		t = bpf_task_from_pid(1);
		if (t)
			bpf_task_release(t);
	}
	return 0;
}

/* a 16-byte struct argument passed by value fills two context words */
SEC("fexit/bpf_fentry_test2")
int BPF_PROG2(on_test2, int, a, __u64, b, int, ret)
{
	return a + b + ret == 0;
}

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct task_struct *same;

	if (!task)
		return 0;
	same = bpf_core_cast(task, struct task_struct);
	BPF_SEQ_PRINTF(seq, "%d %s\n", same->tgid, task->comm);
	return 0;
}
