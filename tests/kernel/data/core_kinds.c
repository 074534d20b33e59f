/* CO-RE relocation kinds resolved against the running kernel, results written to a map by a tc program. */
#include <bpf_helpers.h>
#include <bpf_core_read.h>

struct task_struct {
    int pid;
    int pybpf_missing_field;
} __attribute__((preserve_access_index));

struct pybpf_no_such_struct { int x; };

enum bpf_map_type___local { BPF_MAP_TYPE_RINGBUF___local = 99 };

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} out SEC(".maps");

static __always_inline void put(__u32 k, __u64 v) { bpf_map_update_elem(&out, &k, &v, 0); }

SEC("tc")
int core_kinds(struct __sk_buff *skb)
{
    struct task_struct *t = 0;
    put(0, bpf_core_field_exists(t->pid));
    put(1, bpf_core_field_exists(t->pybpf_missing_field));
    put(2, bpf_core_field_size(t->pid));
    put(3, bpf_core_field_offset(t->pid));
    put(4, bpf_core_type_exists(struct task_struct));
    put(5, bpf_core_type_exists(struct pybpf_no_such_struct));
    put(6, __builtin_preserve_enum_value(*(enum bpf_map_type___local *)BPF_MAP_TYPE_RINGBUF___local, 1));
    put(7, bpf_core_type_size(struct task_struct));
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
