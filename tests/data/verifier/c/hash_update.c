// Map update/lookup/delete with stack keys and values.
#include <bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1024); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");

SEC("kprobe/do_sys_open") int count_opens(void *ctx) {
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    __u64 one = 1, *v = bpf_map_lookup_elem(&counts, &pid);
    if (v) { (*v)++; return 0; }
    bpf_map_update_elem(&counts, &pid, &one, BPF_ANY);
    if (pid == 0) bpf_map_delete_elem(&counts, &pid);
    return 0;
}
BPF_LICENSE("GPL");
