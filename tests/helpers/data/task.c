/* task.c - the current-task helpers, results in an array (NS_DEV / NS_INO from -D defines). */
#include <bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} out SEC(".maps");

static __always_inline void put(__u32 i, __u64 v)
{
	bpf_map_update_elem(&out, &i, &v, 0);
}

SEC("xdp")
int task(struct xdp_md *ctx)
{
	char comm[16] = {};
	struct bpf_pidns_info ns = {};

	put(0, bpf_get_current_pid_tgid());
	put(1, bpf_get_current_uid_gid());
	put(2, bpf_get_current_comm(comm, sizeof(comm)));
	put(3, *(__u64 *)comm);
	put(4, *(__u64 *)(comm + 8));
	put(5, bpf_get_current_cgroup_id());
	put(6, bpf_get_current_ancestor_cgroup_id(0));
	put(7, bpf_get_current_ancestor_cgroup_id(1));
	put(8, bpf_get_current_ancestor_cgroup_id(2));
	put(9, bpf_get_current_ancestor_cgroup_id(50));
	put(10, bpf_get_ns_current_pid_tgid(NS_DEV, NS_INO, &ns, sizeof(ns)));
	put(11, *(__u64 *)&ns);
	put(12, bpf_get_ns_current_pid_tgid(NS_DEV, NS_INO + 1, &ns, sizeof(ns)));
	put(13, *(__u64 *)&ns);
	put(14, bpf_get_smp_processor_id());
	put(15, bpf_get_numa_node_id());
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
