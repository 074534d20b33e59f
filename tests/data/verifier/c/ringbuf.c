// Ring buffer reservations: submitted, discarded, and leaked on one path.
#include <bpf_helpers.h>

struct event { __u64 ts; __u32 pid; char comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve") int rb_ok(void *ctx) {
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) return 0;
    e->ts = bpf_ktime_get_ns();
    e->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    if (e->pid == 1) { bpf_ringbuf_discard(e, 0); return 0; }
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve") int rb_leak(void *ctx) {
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) return 0;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    if (e->pid == 1) return 0;   /* leaks the reservation */
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve") int rb_output(void *ctx) {
    struct event e = {};
    e.ts = bpf_ktime_get_ns();
    bpf_ringbuf_output(&events, &e, sizeof(e), 0);
    return 0;
}
BPF_LICENSE("GPL");
