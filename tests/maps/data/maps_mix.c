/* maps_mix.c - drives map and helper operations from packet bytes, logging every result.
 *
 * Packet layout after the 14-byte Ethernet header: op (u8 at 14), flags (u8 at 15),
 * a (u32 at 16), b (u32 at 20), 32 bytes of operand text/data (24..56). Every operation writes
 * its return code or result to results[1 + seq % 63] and bumps results[0] (seq), so two engines
 * that run the same packets must end with identical maps.
 */
#include <bpf_helpers.h>

struct lpm_key {
	__u32 prefixlen;
	__u32 addr; /* network order */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} ph SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pa SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u32);
} q SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 4);
	__type(value, __u32);
} st SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__type(key, struct lpm_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

static const char hello[] = "hello";
static const char fmt[] = "%d:%x:%u";

static __always_inline void log_result(__u64 value)
{
	__u32 zero = 0;
	__u64 *seq = bpf_map_lookup_elem(&results, &zero);

	if (!seq)
		return;
	__u32 slot = 1 + (*seq % 63);
	*seq += 1;
	bpf_map_update_elem(&results, &slot, &value, BPF_ANY);
}

SEC("xdp")
int mix(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;

	if (data + 56 > data_end)
		return XDP_PASS;
	__u8 op = p[14];
	__u64 flags = p[15];
	__u32 a = *(__u32 *)(p + 16);
	__u32 b = *(__u32 *)(p + 20);
	char text[32];
	__builtin_memcpy(text, p + 24, 32);
	__u64 value = b;
	long rc = 0;

	switch (op) {
	case 1:
		rc = bpf_map_update_elem(&h, &a, &value, flags);
		break;
	case 2:
		rc = bpf_map_delete_elem(&h, &a);
		break;
	case 3: {
		__u64 *v = bpf_map_lookup_elem(&h, &a);
		rc = v ? (long)*v : -1;
		break;
	}
	case 4:
		rc = bpf_map_update_elem(&ph, &a, &value, flags);
		break;
	case 5: {
		__u32 idx = a & 3;
		__u64 *v = bpf_map_lookup_elem(&pa, &idx);
		if (v) {
			*v += b;
			rc = (long)*v;
		}
		break;
	}
	case 6:
		rc = bpf_map_push_elem(&q, &a, flags);
		break;
	case 7: {
		__u32 out = 0xdeadbeef;
		rc = bpf_map_pop_elem(&q, &out);
		rc = (rc << 32) | out;
		break;
	}
	case 8:
		rc = bpf_map_push_elem(&st, &a, flags);
		break;
	case 9: {
		__u32 out = 0xdeadbeef;
		rc = bpf_map_pop_elem(&st, &out);
		rc = (rc << 32) | out;
		break;
	}
	case 10: {
		__u32 out = 0xdeadbeef;
		rc = bpf_map_peek_elem(&q, &out);
		rc = (rc << 32) | out;
		break;
	}
	case 11: {
		struct lpm_key key = {.prefixlen = a & 63, .addr = b};
		__u32 v = a >> 8;
		rc = bpf_map_update_elem(&lpm, &key, &v, flags);
		break;
	}
	case 12: {
		struct lpm_key key = {.prefixlen = 32, .addr = b};
		__u32 *v = bpf_map_lookup_elem(&lpm, &key);
		rc = v ? (long)*v : -1;
		break;
	}
	case 13: {
		struct lpm_key key = {.prefixlen = a & 63, .addr = b};
		rc = bpf_map_delete_elem(&lpm, &key);
		break;
	}
	case 14: {
		__u64 rec[2] = {a, b};
		rc = bpf_ringbuf_output(&rb, rec, sizeof(rec), flags & 3);
		break;
	}
	case 15: {
		__u64 *rec = bpf_ringbuf_reserve(&rb, 24, 0);
		if (!rec) {
			rc = -1;
			break;
		}
		rec[0] = a;
		rec[1] = b;
		rec[2] = 0x1122334455667788ULL;
		if (flags & 1)
			bpf_ringbuf_discard(rec, 0);
		else
			bpf_ringbuf_submit(rec, 0);
		break;
	}
	case 16:
		rc = bpf_ringbuf_query(&rb, a & 3);
		break;
	case 17: {
		long res = 0x5555;
		rc = bpf_strtol(text, (a & 31) + 1, flags, &res);
		log_result(res);
		break;
	}
	case 18: {
		unsigned long res = 0x5555;
		rc = bpf_strtoul(text, (a & 31) + 1, flags, &res);
		log_result(res);
		break;
	}
	case 19:
		rc = bpf_strncmp(text, (a & 31) + 1, hello);
		break;
	case 20: {
		char buf[24] = {};
		__u64 args[3] = {a, b, a ^ b};
		rc = bpf_snprintf(buf, sizeof(buf), fmt, args, sizeof(args));
		log_result(*(__u64 *)buf);
		log_result(*(__u64 *)(buf + 8));
		break;
	}
	case 21: {
		__u32 from_size = (a & 3) * 4, to_size = (b & 3) * 4;
		rc = bpf_csum_diff((__be32 *)text, from_size, (__be32 *)(text + 16), to_size, a);
		break;
	}
	case 22: {
		__u32 idx = a & 3;
		__u64 *v = bpf_map_lookup_percpu_elem(&pa, &idx, b & 1);
		rc = v ? (long)*v : -1;
		break;
	}
	default:
		return XDP_PASS;
	}
	log_result(rc);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
