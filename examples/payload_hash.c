/* payload_hash.c - bpf-to-bpf calls, a bounded loop and global variables in one program.
 *
 * For each UDP packet, a separate (not inlined) function finds the payload, another one
 * hashes its first `hash_bytes` bytes with 32-bit FNV-1a in a bounded loop, and the
 * program drops the packet when the hash equals `blocked_hash`. Globals:
 *   .rodata  hash_bytes    how many payload bytes to hash (const volatile: set before load)
 *   .data    settings      FNV-1a offset basis and the blocked hash (0: nothing blocked),
 *                          which user space may change while the program runs
 *   .bss     totals        packets hashed, payload bytes hashed, last hash, drops
 * (zero-initialised globals go to .bss, so settings has a non-zero member to stay in .data)
 */
#include "parse.h"

#define MAX_HASH_BYTES 64

const volatile __u32 hash_bytes = 16;

struct settings {
	__u32 fnv_basis;
	__u32 blocked_hash;
} settings = {.fnv_basis = 2166136261u, .blocked_hash = 0};

struct totals {
	__u64 packets;
	__u64 bytes;
	__u32 last_hash;
	__u32 drops;
} totals;

/* Offset of the UDP payload in the frame, or -1 if this is not a complete UDP packet. */
static __noinline int udp_payload_offset(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow f = {};

	/* !f.l4: a later IPv4 fragment, which carries no UDP header */
	if (parse_flow(data, data_end, &f) != PARSE_OK || f.ip_proto != IPPROTO_UDP || !f.l4)
		return -1;
	return (int)((void *)f.l4 + sizeof(struct udphdr) - data);
}

/* FNV-1a over at most `limit` bytes from `offset`, stopping at the end of the packet. */
static __noinline __u32 fnv1a(struct xdp_md *ctx, __u32 offset, __u32 limit, __u32 *hashed)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 hash = settings.fnv_basis;
	__u32 i;

	offset &= 0x3ff; /* a bound the verifier can see */
#pragma clang loop unroll(disable)
	for (i = 0; i < MAX_HASH_BYTES; i++) {
		__u8 *p = data + offset + i;

		if (i >= limit || (void *)(p + 1) > data_end)
			break;
		hash ^= *p;
		hash *= 16777619u; /* FNV prime */
	}
	*hashed = i;
	return hash;
}

SEC("xdp")
int hash_payload(struct xdp_md *ctx)
{
	int offset = udp_payload_offset(ctx);
	__u32 hashed = 0;

	if (offset < 0)
		return XDP_PASS;
	__u32 hash = fnv1a(ctx, offset, hash_bytes, &hashed);

	totals.packets++;
	totals.bytes += hashed;
	totals.last_hash = hash;
	if (settings.blocked_hash != 0 && hash == settings.blocked_hash) {
		totals.drops++;
		return XDP_DROP;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
