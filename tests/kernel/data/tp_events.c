/* Tracepoint program: counts getppid() calls of one process and streams an event per call. */
#include <bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 16);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} calls SEC(".maps");

const volatile __u32 target_pid = 0;

struct event { __u32 pid; __u32 seq; };
struct event *event_type_anchor; /* keeps struct event in BTF for decoding */

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (pid != target_pid)
        return 0;
    __u32 k = 0;
    __u64 *n = bpf_map_lookup_elem(&calls, &k);
    if (!n)
        return 0;
    struct event e = { .pid = pid, .seq = (__u32)__sync_fetch_and_add(n, 1) };
    bpf_ringbuf_output(&events, &e, sizeof(e), 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
