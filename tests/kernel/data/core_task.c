/* CO-RE: read the current task's tgid and its parent's tgid through relocated field offsets. */
#include <bpf_helpers.h>
#include <bpf_core_read.h>

/* Only the fields used, in any order: CO-RE finds their real offsets in the kernel's BTF. */
struct task_struct {
    struct task_struct *real_parent;
    int tgid;
} __attribute__((preserve_access_index));

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} out SEC(".maps");

const volatile __u32 target_pid = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int core_task(void *ctx)
{
    if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
        return 0;
    struct task_struct *t = (void *)bpf_get_current_task();
    struct task_struct *parent = 0;
    int tgid = 0, ptgid = 0;
    bpf_core_read(&tgid, sizeof(tgid), &t->tgid);
    bpf_core_read(&parent, sizeof(parent), &t->real_parent);
    bpf_core_read(&ptgid, sizeof(ptgid), &parent->tgid);
    __u32 k = 0;
    __u64 v = tgid;
    bpf_map_update_elem(&out, &k, &v, 0);
    k = 1;
    v = ptgid;
    bpf_map_update_elem(&out, &k, &v, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
