/* Events for the decoding tests: ring buffers of variable-length records (a flexible char array)
 * and of records shorter than their struct, and a cgroup array, which user space cannot read in
 * the kernel (errno 524). */
#include <bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroups SEC(".maps");

struct note { __u32 len; char text[]; };
struct line { __u32 len; char text[16]; };

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 12);
	__type(value, struct note);
} notes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 12);
	__type(value, struct line);
} lines SEC(".maps");

const volatile __u32 target_pid = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	struct { __u32 len; char text[8]; } small = { 3, "abc" };
	struct { __u32 len; char text[12]; } big = { 11, "hello world" };

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	if (bpf_current_task_under_cgroup(&cgroups, 0) == 1)
		return 0;
	bpf_ringbuf_output(&notes, &small, sizeof(small), 0);
	bpf_ringbuf_output(&notes, &big, sizeof(big), 0);
	bpf_ringbuf_output(&lines, &small, 10, 0); /* 10 of struct line's 20 bytes */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
