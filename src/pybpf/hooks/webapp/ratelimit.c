/* ratelimit.c - a user's policy for the "webapp:request" hook point of pybpf.hooks.webapp.
 *
 * Every HTTP request fires the hook with a struct http_request. The program answers with a
 * verdict the application acts on: 0 serves the request, 1 refuses it with 429 Too Many Requests
 * (more than `limit` requests from one client within `window_ns`), 2 refuses it with 403
 * Forbidden (a path under `blocked_prefix`, "/admin" by default). The per-client counts live in
 * the map `clients` and the verdict counts in `verdicts`; the application (and, on the kernel
 * engine with --pin, `pybpf map dump`) reads them.
 */
#include <bpf_helpers.h>

#define PATH_MAX_LEN 64

enum http_method {
	HTTP_OTHER = 0,
	HTTP_GET = 1,
	HTTP_HEAD = 2,
	HTTP_POST = 3,
	HTTP_PUT = 4,
	HTTP_DELETE = 5,
	HTTP_PATCH = 6,
	HTTP_OPTIONS = 7,
};

enum verdict {
	VERDICT_ALLOW = 0,
	VERDICT_RATE_LIMITED = 1,
	VERDICT_FORBIDDEN = 2,
};

struct http_request {
	__u32 client;         /* the client's IPv4 address, host byte order (0 for IPv6/unix clients) */
	__u32 method;         /* enum http_method */
	__u64 now_ns;         /* CLOCK_MONOTONIC at the request, from the application */
	__u32 content_length; /* the Content-Length header, 0 when absent */
	__u32 path_len;       /* bytes of the path (it is cut at PATH_MAX_LEN) */
	char path[PATH_MAX_LEN];
};

struct client_stats {
	__u64 window_start; /* now_ns of the first request of the current window */
	__u64 in_window;    /* requests counted in the current window */
	__u64 allowed;
	__u64 limited;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct client_stats);
} clients SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

const volatile __u64 limit = 5;
const volatile __u64 window_ns = 1000000000ULL;
const volatile char blocked_prefix[16] = "/admin";

static __always_inline int count(__u32 verdict)
{
	__u64 *n = bpf_map_lookup_elem(&verdicts, &verdict);

	if (n)
		__sync_fetch_and_add(n, 1);
	return verdict;
}

static __always_inline int blocked(const struct http_request *req)
{
	int i;

	if (blocked_prefix[0] == 0)
		return 0;
#pragma unroll
	for (i = 0; i < (int)sizeof(blocked_prefix); i++) {
		char want = blocked_prefix[i];

		if (want == 0)
			return 1;
		if (i >= PATH_MAX_LEN || req->path[i] != want)
			return 0;
	}
	return 1;
}

SEC("hook/webapp:request")
int ratelimit(struct http_request *req)
{
	__u32 client = req->client;
	__u64 now = req->now_ns;
	struct client_stats *st;

	if (blocked(req))
		return count(VERDICT_FORBIDDEN);
	st = bpf_map_lookup_elem(&clients, &client);
	if (!st) {
		struct client_stats first = {.window_start = now, .in_window = 1, .allowed = 1};

		bpf_map_update_elem(&clients, &client, &first, BPF_NOEXIST);
		return count(VERDICT_ALLOW);
	}
	if (now - st->window_start >= window_ns) {
		st->window_start = now;
		st->in_window = 0;
	}
	if (st->in_window >= limit) {
		__sync_fetch_and_add(&st->limited, 1);
		return count(VERDICT_RATE_LIMITED);
	}
	__sync_fetch_and_add(&st->in_window, 1);
	__sync_fetch_and_add(&st->allowed, 1);
	return count(VERDICT_ALLOW);
}

char LICENSE[] SEC("license") = "GPL";
