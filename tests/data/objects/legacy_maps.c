/* Maps in the legacy "maps" section (struct bpf_map_def), and a kernel version section. */
#include "common.h"

struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };

struct bpf_map_def SEC("maps") legacy_hash = { BPF_MAP_TYPE_HASH, 4, 8, 128, 0 };
struct bpf_map_def SEC("maps") legacy_array = { BPF_MAP_TYPE_ARRAY, 4, 16, 8, 0 };

SEC("socket") int sock_prog(struct __sk_buff *skb)
{
    __u32 k = skb->len;
    __u64 *v = bpf_map_lookup_elem(&legacy_hash, &k);
    void *w = bpf_map_lookup_elem(&legacy_array, &k);
    return (v ? 1 : 0) + (w ? 2 : 0);
}

char _license[] SEC("license") = "GPL";
unsigned int _version SEC("version") = 0x060c00;
