/* syscall_counter.c - count system calls per (process, syscall number), from a tracepoint.
 *
 * Attached to raw_syscalls:sys_enter, which fires on every system call entry. The context
 * layout below is the tracepoint's format file
 * (/sys/kernel/tracing/events/raw_syscalls/sys_enter/format). Set `target_tgid` (.rodata)
 * before loading to count one process only; 0 counts every process.
 */
#include <bpf_helpers.h>

struct sys_enter_args {
	__u16 common_type;
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
	__s64 id;      /* the system call number */
	__u64 args[6]; /* its arguments */
};

struct syscall_key {
	__u32 tgid; /* process id */
	__u32 nr;   /* system call number */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct syscall_key);
	__type(value, __u64);
} syscalls SEC(".maps");

const volatile __u32 target_tgid = 0;

SEC("tracepoint/raw_syscalls/sys_enter")
int count_syscalls(struct sys_enter_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (target_tgid && tgid != target_tgid)
		return 0;
	struct syscall_key key = {.tgid = tgid, .nr = (__u32)ctx->id};
	__u64 *count = bpf_map_lookup_elem(&syscalls, &key);

	if (count) {
		__sync_fetch_and_add(count, 1);
	} else {
		__u64 one = 1;

		/* BPF_NOEXIST: if another CPU inserted it meanwhile, this count is lost (rare) */
		bpf_map_update_elem(&syscalls, &key, &one, BPF_NOEXIST);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
