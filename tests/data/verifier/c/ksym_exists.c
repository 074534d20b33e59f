/* Weak __ksym kfuncs and bpf_ksym_exists (libbpf-tools sigsnoop does this): the ld_imm64 of a kfunc's
 * address is read-only memory of size 0 when the kernel has it, 0 when it does not. */
#include <bpf_helpers.h>

struct task_struct;
extern struct task_struct *bpf_task_from_pid(int pid) __weak __ksym;
extern void bpf_task_release(struct task_struct *p) __weak __ksym;
extern void pybpf_no_such_kfunc(void) __weak __ksym;

__u64 found = 0;

/* the kernel has bpf_task_from_pid: its address is a non-NULL read-only pointer */
SEC("tracepoint/syscalls/sys_enter_getppid")
int kfunc_present(void *ctx)
{
	struct task_struct *t;

	if (bpf_ksym_exists(bpf_task_from_pid)) {
		t = bpf_task_from_pid(1);
		if (t) {
			bpf_task_release(t);
			found |= 1;
		}
	}
	return 0;
}

/* an absent weak kfunc: its address is 0 and the guarded call is dead code */
SEC("tracepoint/syscalls/sys_enter_getppid")
int kfunc_absent(void *ctx)
{
	if (bpf_ksym_exists(pybpf_no_such_kfunc)) {
		pybpf_no_such_kfunc();
		return 1;
	}
	found |= 2;
	return 0;
}

/* socket filters may not call the task kfuncs */
SEC("socket")
int kfunc_filter(void *ctx)
{
	struct task_struct *t;

	if (bpf_ksym_exists(bpf_task_from_pid)) {
		t = bpf_task_from_pid(1);
		if (t)
			bpf_task_release(t);
	}
	return 0;
}

/* the address of a kfunc is read-only memory of size 0: no byte of it may be read */
SEC("tracepoint/syscalls/sys_enter_getppid")
int kfunc_deref(void *ctx)
{
	return *(volatile char *)bpf_task_from_pid;
}

char LICENSE[] SEC("license") = "GPL";
