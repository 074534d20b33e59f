/* Hash-map lookups by key size, for tests of the JIT's per-key-size search (pybpf.vm.jit.native_hash).
 * packet: map (u8: 0 u32 keys, 1 u64 keys, 2 12-byte keys, 3 2-byte keys), then the key's bytes.
 * Returns the low 32 bits of the value found, 0xffff when the key is absent. */
#include <bpf_helpers.h>

struct key12 { __u32 a, b, c; };

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} k4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u64);
    __type(value, __u64);
} k8 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, struct key12);
    __type(value, __u64);
} k12 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u16);
    __type(value, __u64);
} k2 SEC(".maps");

SEC("xdp") int hash_keys(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 13 > end)
        return 0;
    __u8 which = *(__u8 *)data;
    __u64 *v = 0;
    if (which == 0) {
        __u32 key;
        __builtin_memcpy(&key, data + 1, 4);
        v = bpf_map_lookup_elem(&k4, &key);
    } else if (which == 1) {
        __u64 key;
        __builtin_memcpy(&key, data + 1, 8);
        v = bpf_map_lookup_elem(&k8, &key);
    } else if (which == 2) {
        struct key12 key;
        __builtin_memcpy(&key, data + 1, 12);
        v = bpf_map_lookup_elem(&k12, &key);
    } else {
        __u16 key;
        __builtin_memcpy(&key, data + 1, 2);
        v = bpf_map_lookup_elem(&k2, &key);
    }
    return v ? (__u32)*v : 0xffff;
}

char LICENSE[] SEC("license") = "GPL";
