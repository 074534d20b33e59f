/* Map operations driven by the packet, for JIT vs interpreter tests of the native map helpers.
 * packet: op (u8), key (u32), value (u64), flags (u8). */
#include <bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} arr SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, __u64);
} hash SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4);
    __type(key, __u64);
    __type(value, __u32);
} wide SEC(".maps");

struct req {
    __u8 op;
    __u32 key;
    __u64 value;
    __u8 flags;
} __attribute__((packed));

SEC("xdp") int map_ops(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct req *r = data;
    if ((void *)(r + 1) > end)
        return 0;
    __u32 key = r->key;
    __u64 value = r->value;
    __u64 *v;
    switch (r->op) {
    case 0:
        v = bpf_map_lookup_elem(&arr, &key);
        return v ? (__u32)*v : 0xffff;
    case 1:
        return bpf_map_update_elem(&arr, &key, &value, r->flags);
    case 2:
        v = bpf_map_lookup_elem(&hash, &key);
        return v ? (__u32)*v : 0xffff;
    case 3:
        return bpf_map_update_elem(&hash, &key, &value, r->flags);
    case 4:
        v = bpf_map_lookup_elem(&hash, &key);
        if (!v)
            return 0xfffe;
        __sync_fetch_and_add(v, value);
        return (__u32)*v;
    case 5:
        return bpf_map_delete_elem(&hash, &key);
    case 6: {
        __u64 wkey = ((__u64)key << 32) | key;
        __u32 *w = bpf_map_lookup_elem(&wide, &wkey);
        if (w)
            return *w;
        __u32 one = (__u32)value;
        return bpf_map_update_elem(&wide, &wkey, &one, BPF_ANY) + 1000;
    }
    case 7:
        v = bpf_map_lookup_elem(&arr, &key);
        if (!v)
            return 0xffff;
        *v = value * 3;
        return 1;
    }
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
