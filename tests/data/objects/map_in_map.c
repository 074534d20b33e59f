/* Map-in-map and prog_array with static slot initialisation through relocations into .maps. */
#include "common.h"

struct inner {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
};
struct inner inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 4);
    __type(key, __u32);
    __array(values, struct inner);
} outer SEC(".maps") = { .values = { [0] = &inner_a, [2] = &inner_b } };

int tail_a(void *ctx);
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __array(values, int(void *));
} jumps SEC(".maps") = { .values = { [1] = (void *)&tail_a } };

SEC("xdp") int tail_a(void *ctx) { return 2; }

SEC("xdp") int entry(void *ctx)
{
    __u32 k = 0;
    void *in = bpf_map_lookup_elem(&outer, &k);
    if (in && bpf_map_lookup_elem(in, &k))
        bpf_tail_call(ctx, &jumps, 1);
    return 1;
}
char LICENSE[] SEC("license") = "GPL";
