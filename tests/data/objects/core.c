/* CO-RE relocations against the running kernel's BTF: local type flavours, field/type/enum builtins. */
#include "common.h"

#define __pai __attribute__((preserve_access_index))
#define FIELD_OFFSET(f) __builtin_preserve_field_info(f, 0)
#define FIELD_SIZE(f) __builtin_preserve_field_info(f, 1)
#define FIELD_EXISTS(f) __builtin_preserve_field_info(f, 2)
#define FIELD_SIGNED(f) __builtin_preserve_field_info(f, 3)
#define FIELD_LSHIFT(f) __builtin_preserve_field_info(f, 4)
#define FIELD_RSHIFT(f) __builtin_preserve_field_info(f, 5)
#define TYPE_ID_LOCAL(t) __builtin_btf_type_id(*(typeof(t) *)0, 0)
#define TYPE_ID_TARGET(t) __builtin_btf_type_id(*(typeof(t) *)0, 1)
#define TYPE_EXISTS(t) __builtin_preserve_type_info(*(typeof(t) *)0, 0)
#define TYPE_SIZE(t) __builtin_preserve_type_info(*(typeof(t) *)0, 1)
#define TYPE_MATCHES(t) __builtin_preserve_type_info(*(typeof(t) *)0, 2)
#define ENUM_EXISTS(t, v) __builtin_preserve_enum_value(*(typeof(t) *)v, 0)
#define ENUM_VALUE(t, v) __builtin_preserve_enum_value(*(typeof(t) *)v, 1)

/* Deliberately wrong local layouts: CO-RE must find the kernel's offsets. */
struct task_struct {
    int pid;
    int tgid;
    char comm[16];
    struct task_struct *real_parent;
} __pai;

struct task_struct___old {
    long not_in_kernel;
    int pid;
} __pai;

struct iphdr {
    __u8 ihl : 4, version : 4;
    __u8 tos;
    __u16 tot_len;
} __pai;

struct list_head___mine { struct list_head___mine *next, *prev; } __pai;
struct not_a_kernel_type___x { int a; } __pai;

enum bpf_map_type___local { BPF_MAP_TYPE_RINGBUF___local = 99, BPF_MAP_TYPE_NOPE___local = 1000 };
enum bpf_map_type { BPF_MAP_TYPE_ARENA = 1 };

struct out { __u64 v[24]; };

SEC("syscall") int core_fields(struct out *o)
{
    struct task_struct *t = (void *)o;
    o->v[0] = FIELD_OFFSET(t->pid);
    o->v[1] = FIELD_OFFSET(t->tgid);
    o->v[2] = FIELD_OFFSET(t->comm);
    o->v[3] = FIELD_SIZE(t->comm);
    o->v[4] = FIELD_EXISTS(((struct task_struct___old *)t)->not_in_kernel);
    o->v[5] = FIELD_EXISTS(((struct task_struct___old *)t)->pid);
    o->v[6] = FIELD_SIGNED(t->pid);
    o->v[7] = FIELD_OFFSET(t->real_parent);
    o->v[8] = FIELD_OFFSET(t->comm[3]);
    return 0;
}

SEC("syscall") int core_bitfields(struct out *o)
{
    struct iphdr *ip = (void *)o;
    o->v[0] = FIELD_OFFSET(ip->version);
    o->v[1] = FIELD_SIZE(ip->version);
    o->v[2] = FIELD_LSHIFT(ip->version);
    o->v[3] = FIELD_RSHIFT(ip->version);
    o->v[4] = FIELD_LSHIFT(ip->ihl);
    o->v[5] = FIELD_SIGNED(ip->tot_len);
    o->v[6] = FIELD_OFFSET(ip->tot_len);
    return 0;
}

SEC("syscall") int core_types(struct out *o)
{
    o->v[0] = TYPE_EXISTS(struct task_struct);
    o->v[1] = TYPE_EXISTS(struct not_a_kernel_type___x);
    o->v[2] = TYPE_SIZE(struct list_head___mine);
    o->v[3] = TYPE_ID_TARGET(struct task_struct);
    o->v[4] = TYPE_ID_LOCAL(struct task_struct);
    o->v[5] = TYPE_MATCHES(struct list_head___mine);
    o->v[6] = ENUM_EXISTS(enum bpf_map_type___local, BPF_MAP_TYPE_RINGBUF___local);
    o->v[7] = ENUM_VALUE(enum bpf_map_type___local, BPF_MAP_TYPE_RINGBUF___local);
    o->v[8] = ENUM_EXISTS(enum bpf_map_type___local, BPF_MAP_TYPE_NOPE___local);
    o->v[9] = ENUM_VALUE(enum bpf_map_type, BPF_MAP_TYPE_ARENA);
    return 0;
}

__u32 g_tgid;

SEC("tp_btf/sched_switch") int core_read(__u64 *ctx)
{
    /* A direct load through a BTF pointer: the ldx offset is relocated. */
    struct task_struct *prev = (struct task_struct *)ctx[1];
    g_tgid = __builtin_preserve_access_index(prev->tgid);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
