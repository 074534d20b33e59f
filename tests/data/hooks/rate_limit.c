/* rate_limit.c - a hook program for the "myapp:request" hook point of tests/hooks: deny a client's
 * requests after its first `limit` (a const volatile global), counting requests per client in `seen`. */
#include <bpf_helpers.h>

struct request {
	__u32 client;
	__u32 port;
	__u32 size;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

const volatile __u64 limit = 3;

SEC("hook/myapp:request")
int rate_limit(struct request *req)
{
	__u32 client = req->client;
	__u64 one = 1, *count;

	if (req->port == 22)
		return 2; /* a second verdict: this port is never served */
	count = bpf_map_lookup_elem(&seen, &client);
	if (!count) {
		bpf_map_update_elem(&seen, &client, &one, BPF_NOEXIST);
		return 0;
	}
	__sync_fetch_and_add(count, 1);
	return *count > limit ? 1 : 0;
}

char LICENSE[] SEC("license") = "GPL";
