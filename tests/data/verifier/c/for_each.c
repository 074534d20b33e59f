// bpf_for_each_map_elem: the callback gets (map, key, value, ctx) and returns 0 or 1.
#include <bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} values SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, __u64);
    __type(value, __u32);
} table SEC(".maps");

struct sum_ctx { __u64 sum; __u32 seen; };

static long add_value(void *map, __u32 *key, __u64 *value, struct sum_ctx *c)
{
    c->sum += *value + *key;
    c->seen++;
    *value += 1;              /* values of a writable map may be changed */
    return *value > 1000;     /* 1 stops the walk */
}

SEC("xdp") int for_each_sum(struct xdp_md *ctx)
{
    struct sum_ctx c = {};

    bpf_for_each_map_elem(&values, add_value, &c, 0);
    return c.sum & 3;
}

static long count_hash(void *map, __u64 *key, __u32 *value, __u64 *n)
{
    *n += *key > 100;
    return 0;
}

SEC("xdp") int for_each_hash(struct xdp_md *ctx)
{
    __u64 n = 0;

    bpf_for_each_map_elem(&table, count_hash, &n, 0);
    return n & 1;
}

static long change_key(void *map, __u32 *key, __u64 *value, void *c)
{
    *key = 0;                 /* keys are read-only */
    return 0;
}

SEC("xdp") int for_each_write_key(struct xdp_md *ctx)
{
    bpf_for_each_map_elem(&values, change_key, 0, 0);
    return 2;
}

static long bad_return(void *map, __u32 *key, __u64 *value, void *c)
{
    return *value & 7;        /* only 0 or 1 may come back */
}

SEC("xdp") int for_each_bad_return(struct xdp_md *ctx)
{
    bpf_for_each_map_elem(&values, bad_return, 0, 0);
    return 2;
}

static long past_key(void *map, __u32 *key, __u64 *value, __u64 *out)
{
    *out = key[1];            /* the key is 4 bytes */
    return 0;
}

SEC("xdp") int for_each_key_overrun(struct xdp_md *ctx)
{
    __u64 out = 0;

    bpf_for_each_map_elem(&values, past_key, &out, 0);
    return out & 1;
}

BPF_LICENSE("GPL");
