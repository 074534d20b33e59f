/* One source, two targets: eBPF (ziglang/clang -target bpf) and native C (cc -O2 -shared).
 *
 * A benchmark is `BENCH(name) { ... }` over an XDP-like context with DATA()/DATA_END() packet
 * pointers. OPAQUE(x) hides a constant from the compiler (so the work is not folded away) while
 * the eBPF verifier still knows its value. The native build provides stand-ins for the map
 * helpers the programs use (a small open-addressing hash table), so the same C runs on both.
 */
#ifndef PYBPF_BENCH_H
#define PYBPF_BENCH_H

#define OPAQUE(x) __asm__ volatile("" : "+r"(x))

#ifdef __bpf__

#include <bpf_helpers.h>

#define BENCH(name) SEC("xdp") int name(struct xdp_md *ctx)
#define DATA(ctx) ((void *)(long)(ctx)->data)
#define DATA_END(ctx) ((void *)(long)(ctx)->data_end)
#define HASH_MAP(name, ktype, vtype, entries)                                                  \
    struct {                                                                                   \
        __uint(type, BPF_MAP_TYPE_HASH);                                                       \
        __uint(max_entries, entries);                                                          \
        __type(key, ktype);                                                                    \
        __type(value, vtype);                                                                  \
    } name SEC(".maps")
#define LICENSE_GPL char LICENSE[] SEC("license") = "GPL"

#else /* native */

#include <stdint.h>
#include <string.h>

typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
typedef int32_t __s32;
typedef int64_t __s64;

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

struct bench_ctx {
    void *data;
    void *data_end;
};

enum { XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT };
enum { BPF_ANY, BPF_NOEXIST, BPF_EXIST };

#define BENCH(name) int name(struct bench_ctx *ctx)
#define DATA(ctx) ((ctx)->data)
#define DATA_END(ctx) ((ctx)->data_end)
#define LICENSE_GPL

/* Stand-in for a BPF hash map: open addressing with linear probing, fixed-size keys/values. */
struct native_map {
    __u32 key_size, value_size, max_entries, slots;
    unsigned char *used;
    unsigned char *keys;
    unsigned char *values;
};

static __u32 native_hash(const unsigned char *key, __u32 n)
{
    __u32 h = 2166136261u;
    for (__u32 i = 0; i < n; i++)
        h = (h ^ key[i]) * 16777619u;
    return h;
}

static void *bpf_map_lookup_elem(void *map, const void *key)
{
    struct native_map *m = map;
    __u32 i = native_hash(key, m->key_size) & (m->slots - 1);
    for (__u32 probe = 0; probe < m->slots; probe++, i = (i + 1) & (m->slots - 1)) {
        if (!m->used[i])
            return 0;
        if (!memcmp(m->keys + (size_t)i * m->key_size, key, m->key_size))
            return m->values + (size_t)i * m->value_size;
    }
    return 0;
}

static long bpf_map_update_elem(void *map, const void *key, const void *value, __u64 flags)
{
    struct native_map *m = map;
    __u32 i = native_hash(key, m->key_size) & (m->slots - 1);
    for (__u32 probe = 0; probe < m->slots; probe++, i = (i + 1) & (m->slots - 1)) {
        if (!m->used[i]) {
            m->used[i] = 1;
            memcpy(m->keys + (size_t)i * m->key_size, key, m->key_size);
            memcpy(m->values + (size_t)i * m->value_size, value, m->value_size);
            return 0;
        }
        if (!memcmp(m->keys + (size_t)i * m->key_size, key, m->key_size)) {
            if (flags == BPF_NOEXIST)
                return -17;
            memcpy(m->values + (size_t)i * m->value_size, value, m->value_size);
            return 0;
        }
    }
    return -7;
}

#define HASH_MAP(name, ktype, vtype, entries)                                                  \
    static unsigned char name##_used[(entries) * 2];                                           \
    static ktype name##_keys[(entries) * 2];                                                   \
    static vtype name##_values[(entries) * 2];                                                 \
    static struct native_map name = {sizeof(ktype), sizeof(vtype), (entries), (entries) * 2,   \
                                     name##_used, (unsigned char *)name##_keys,                \
                                     (unsigned char *)name##_values}

#endif /* __bpf__ */
#endif /* PYBPF_BENCH_H */
