/* guard.h - pybpf guard's kernel side: process lifecycle programs, shared maps, event records.
 *
 * Included by the C that pybpf.guard.codegen generates for a set of TracingPolicies. The
 * generated prelude #defines every OFF_* kernel offset (from the running kernel's BTF) and the
 * tracepoint field offsets (from tracefs) before including this file; the policy hooks follow.
 *
 * Maps: `events` (ring buffer: exec, exit, clone and hook records), `execve_map` (per process:
 * the binary's id for matchBinaries), `binary_ids` (binary path -> id, filled by user space),
 * `counters` (lost events), `ratelimit` (Post rateLimit windows).
 */
#include <bpf_helpers.h>

#define STR_MAX 256
#define ARGS_MAX 1024
#define CWD_MAX 512
#define CWD_DEPTH 32

#define EV_EXEC 1
#define EV_EXIT 2
#define EV_CLONE 3
#define EV_HOOK 4

#define FLAG_TRUNC_ARGS 1
#define FLAG_TRUNC_CWD 2
#define FLAG_ERROR_ARGS 4

struct exec_event {
	__u32 kind;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 flags;
	__u64 ktime;
	__u32 bin_len;
	__u32 args_len;
	__u32 cwd_len;
	__u32 pad;
	char binary[STR_MAX];
	char args[ARGS_MAX];
	char cwd[CWD_MAX + STR_MAX];
};

struct exit_event {
	__u32 kind;
	__u32 pid;
	__u32 tid;
	__u32 exit_code;
	__u64 ktime;
};

struct clone_event {
	__u32 kind;
	__u32 pid;
	__u32 ppid;
	__u32 pad;
	__u64 ktime;
};

/* the header of every hook record; the hook's arguments follow */
struct hook_hdr {
	__u32 kind;
	__u32 hook;
	__u32 pid;
	__u32 tid;
	__u64 ktime;
	__u32 action;
	__u32 selector;
};

/* a string argument: laid out as an LPM trie key (prefix length in bits, then the bytes) */
struct str_arg {
	__u32 prefixlen;
	char data[STR_MAX];
};

struct proc {
	__u64 ktime;
	__u32 bin_id;
	__u32 ppid;
	__u64 follow; /* bit k: a parent matched the k-th matchPIDs filter with followForks */
};

struct counters {
	__u64 lost;
	__u64 killed;
};

struct rate_key {
	__u64 who;
	__u32 hook;
	__u32 selector;
	__u64 args_hash;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_SIZE);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct proc);
} execve_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[STR_MAX]);
	__type(value, __u32);
} binary_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[STR_MAX]);
} bin_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct rate_key);
	__type(value, __u64);
} ratelimit SEC(".maps");

/* generated with the policies: the followForks bits a process passes on to the children it forks */
static __always_inline __u64 follow_bits(__u32 tgid);

static __always_inline __u64 current_follow(__u32 tgid)
{
	struct proc *p = bpf_map_lookup_elem(&execve_map, &tgid);

	return p ? p->follow : 0;
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	struct counters *c = bpf_map_lookup_elem(&counters, &zero);

	if (c)
		__sync_fetch_and_add(&c->lost, 1);
}

static __always_inline void count_killed(void)
{
	__u32 zero = 0;
	struct counters *c = bpf_map_lookup_elem(&counters, &zero);

	if (c)
		__sync_fetch_and_add(&c->killed, 1);
}

static __always_inline void *read_ptr(const void *addr)
{
	void *out = 0;

	bpf_probe_read_kernel(&out, sizeof(out), addr);
	return out;
}

static __always_inline __u32 read_u32(const void *addr)
{
	__u32 out = 0;

	bpf_probe_read_kernel(&out, sizeof(out), addr);
	return out;
}

static __always_inline __u64 read_u64(const void *addr)
{
	__u64 out = 0;

	bpf_probe_read_kernel(&out, sizeof(out), addr);
	return out;
}

static __always_inline void *current_cred(void)
{
	return read_ptr((char *)bpf_get_current_task() + OFF_TASK_CRED);
}

static __always_inline __u32 current_bin_id(__u32 tgid)
{
	struct proc *p = bpf_map_lookup_elem(&execve_map, &tgid);

	return p ? p->bin_id : 0;
}

/* the inode number of one of the current task's namespaces, through its nsproxy */
static __always_inline __u32 nsproxy_inum(long member, long inum)
{
	void *nsp = read_ptr((char *)bpf_get_current_task() + OFF_TASK_NSPROXY);
	void *ns;

	if (!nsp)
		return 0;
	ns = read_ptr((char *)nsp + member);
	return ns ? read_u32((char *)ns + inum) : 0;
}

static __always_inline __u32 user_ns_inum(void)
{
	void *ns = read_ptr((char *)current_cred() + OFF_CRED_USER_NS);

	return ns ? read_u32((char *)ns + OFF_NS_USER_INUM) : 0;
}

/* the pid namespace the task lives in: thread_pid->numbers[level].ns */
static __always_inline __u32 pid_ns_inum(void)
{
	char *pid = read_ptr((char *)bpf_get_current_task() + OFF_TASK_THREAD_PID);
	__u32 level;
	void *ns;

	if (!pid)
		return 0;
	level = read_u32(pid + OFF_PID_LEVEL) & 31;
	ns = read_ptr(pid + OFF_PID_NUMBERS + level * SIZEOF_UPID + OFF_UPID_NS);
	return ns ? read_u32((char *)ns + OFF_NS_PID_INUM) : 0;
}

/* the cwd as path components, leaf first, each NUL-terminated; crosses mount points */
static __always_inline __u32 read_cwd(void *task, char *buf, __u32 *flags)
{
	void *fs = read_ptr((char *)task + OFF_TASK_FS);
	char *vfsmnt, *mnt, *dentry, *mnt_root;
	__u32 pos = 0;

	if (!fs)
		return 0;
	dentry = read_ptr((char *)fs + OFF_FS_PWD_DENTRY);
	vfsmnt = read_ptr((char *)fs + OFF_FS_PWD_MNT);
	mnt = vfsmnt - OFF_MOUNT_MNT;
	mnt_root = read_ptr(vfsmnt + OFF_VFSMOUNT_ROOT);
	for (int i = 0; i < CWD_DEPTH; i++) {
		if (dentry == mnt_root) {
			char *parent_mnt = read_ptr(mnt + OFF_MOUNT_PARENT);

			if (!parent_mnt || parent_mnt == mnt)
				return pos;
			dentry = read_ptr(mnt + OFF_MOUNT_MOUNTPOINT);
			mnt = parent_mnt;
			mnt_root = read_ptr(mnt + OFF_MOUNT_MNT + OFF_VFSMOUNT_ROOT);
			continue;
		}
		char *parent = read_ptr(dentry + OFF_DENTRY_PARENT);

		if (!parent || parent == dentry)
			return pos;
		long n = bpf_probe_read_kernel_str(buf + (pos & (CWD_MAX - 1)), STR_MAX,
						   read_ptr(dentry + OFF_DENTRY_NAME));
		if (n <= 0)
			return pos;
		pos += n;
		if (pos >= CWD_MAX) {
			*flags |= FLAG_TRUNC_CWD;
			return pos & (CWD_MAX - 1);
		}
		dentry = parent;
	}
	*flags |= FLAG_TRUNC_CWD;
	return pos;
}

SEC("tracepoint/sched/sched_process_exec")
int guard_exec(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, zero = 0;
	char *task = (char *)bpf_get_current_task();
	char *key = bpf_map_lookup_elem(&bin_scratch, &zero);
	struct proc proc = {};
	__u32 loc;
	long n;

	if (!key)
		return 0;
	for (int i = 0; i < STR_MAX / 8; i++)
		((__u64 *)key)[i] = 0;
	loc = *(__u32 *)((char *)ctx + TP_EXEC_FILENAME);
	n = bpf_probe_read_kernel_str(key, STR_MAX, (char *)ctx + (loc & 0xffff));
	__u32 *bin = bpf_map_lookup_elem(&binary_ids, key);

	proc.ktime = bpf_ktime_get_boot_ns();
	proc.bin_id = bin ? *bin : 0;
	proc.ppid = read_u32((char *)read_ptr(task + OFF_TASK_REAL_PARENT) + OFF_TASK_TGID);
	proc.follow = current_follow(tgid);
	bpf_map_update_elem(&execve_map, &tgid, &proc, BPF_ANY);

	struct exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_lost();
		return 0;
	}
	e->kind = EV_EXEC;
	e->pid = tgid;
	e->tid = (__u32)id;
	e->ppid = proc.ppid;
	e->uid = read_u32((char *)current_cred() + OFF_CRED_EUID);
	e->flags = 0;
	e->ktime = proc.ktime;
	e->bin_len = n > 0 ? n - 1 : 0;
	bpf_probe_read_kernel(e->binary, STR_MAX, key);

	char *mm = read_ptr(task + OFF_TASK_MM);
	__u64 start = read_u64(mm + OFF_MM_ARG_START), end = read_u64(mm + OFF_MM_ARG_END);
	__u64 len = end > start ? end - start : 0;

	if (len > ARGS_MAX) {
		len = ARGS_MAX;
		e->flags |= FLAG_TRUNC_ARGS;
	}
	e->args_len = 0;
	if (len > 0) {
		if (bpf_probe_read_user(e->args, len & (ARGS_MAX - 1) ?: ARGS_MAX, (void *)start) == 0)
			e->args_len = len;
		else
			e->flags |= FLAG_ERROR_ARGS;
	}
	e->cwd_len = read_cwd(task, e->cwd, &e->flags);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* a new process (not a thread): it inherits its parent's binary until it execs */
SEC("raw_tp/sched_process_fork")
int guard_clone(__u64 *ctx)
{
	char *parent = (char *)ctx[0], *child = (char *)ctx[1];
	__u32 pid = read_u32(child + OFF_TASK_PID), tgid = read_u32(child + OFF_TASK_TGID);
	__u32 ptgid = read_u32(parent + OFF_TASK_TGID);
	struct proc proc = {};

	if (pid != tgid)
		return 0;
	struct proc *pp = bpf_map_lookup_elem(&execve_map, &ptgid);

	proc.ktime = bpf_ktime_get_boot_ns();
	proc.bin_id = pp ? pp->bin_id : 0;
	proc.ppid = ptgid;
	proc.follow = (pp ? pp->follow : 0) | follow_bits(ptgid);
	bpf_map_update_elem(&execve_map, &tgid, &proc, BPF_ANY);

	struct clone_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_lost();
		return 0;
	}
	e->kind = EV_CLONE;
	e->pid = tgid;
	e->ppid = ptgid;
	e->pad = 0;
	e->ktime = proc.ktime;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int guard_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

#if TP_EXIT_GROUP_DEAD >= 0
	if (!*(__u8 *)((char *)ctx + TP_EXIT_GROUP_DEAD))
		return 0;
#else
	if ((__u32)id != tgid)
		return 0;
#endif
	bpf_map_delete_elem(&execve_map, &tgid);
	struct exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_lost();
		return 0;
	}
	e->kind = EV_EXIT;
	e->pid = tgid;
	e->tid = (__u32)id;
	e->exit_code = read_u32((char *)bpf_get_current_task() + OFF_TASK_EXIT_CODE);
	e->ktime = bpf_ktime_get_boot_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Post with rateLimit: true when the same key posted less than `window` ns ago */
static __always_inline int rate_limited(__u64 who, __u32 hook, __u32 selector, __u64 args_hash, __u64 window)
{
	struct rate_key k = {.who = who, .hook = hook, .selector = selector, .args_hash = args_hash};
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 *last = bpf_map_lookup_elem(&ratelimit, &k);

	if (last && now - *last < window)
		return 1;
	bpf_map_update_elem(&ratelimit, &k, &now, BPF_ANY);
	return 0;
}

static __always_inline __u64 hash_mix(__u64 h, __u64 v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

char LICENSE[] SEC("license") = "GPL";
