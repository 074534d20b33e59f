/* profile.bpf.c - pybpf profile: sample stacks on every CPU, count them in the kernel.
 *
 * A perf_event program (cpu-clock or a hardware event, one per online CPU) records for each
 * sample the process, its kernel and user stack ids (bpf_get_stackid into a stack map, user
 * stacks by frame pointers) and, for CPython 3.11 processes user space registered in
 * `python_procs`, the chain of code objects of the running thread's interpreter frames.
 * Equal keys are counted in the `counts` hash map; `stats` counts samples, lost samples
 * (counts map full), stack-map collisions and missing stacks.
 */
#include <bpf_helpers.h>

#define MAX_STACK_DEPTH 127
#define MAX_PY_FRAMES 24

/* What the kernel hands a perf_event program: the interrupted registers, then the period. */
struct sample_ctx {
	__u64 regs[21];
	__u64 sample_period;
	__u64 addr;
};

struct stack_key {
	__u32 pid;
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	__u32 py_depth;
	/* code object addresses, innermost first; bit 0 set on an entry frame (is_entry) */
	__u64 py_frames[MAX_PY_FRAMES];
};

/* Where the interpreter state of a CPython process lives (filled by user space per process). */
struct python_proc {
	__u64 tstate_current;    /* address of _PyRuntime.gilstate.tstate_current */
	__u32 tstate_native_tid; /* offsets inside PyThreadState, _PyCFrame, _PyInterpreterFrame */
	__u32 tstate_cframe;
	__u32 cframe_current_frame;
	__u32 frame_code;
	__u32 frame_previous;
	__u32 frame_is_entry;
};

enum stat_index {
	STAT_SAMPLES,
	STAT_LOST,
	STAT_KERNEL_COLLISIONS,
	STAT_USER_COLLISIONS,
	STAT_KERNEL_MISSING,
	STAT_USER_MISSING,
	STAT_PY_ERRORS,
	STAT_IDLE,
	STAT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct stack_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct python_proc);
} python_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stack_key);
} scratch SEC(".maps");

/* 0: every process; else only this one (tgid). Set through the `config` map at run time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

static __always_inline void bump(__u32 index)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &index);

	if (v)
		*v += 1;
}

static __always_inline void python_frames(struct stack_key *key, struct python_proc *py, __u32 tid)
{
	__u64 tstate = 0, cframe = 0, frame = 0, code = 0;
	__u64 native_tid = 0;
	__u8 is_entry = 0;

	if (bpf_probe_read_user(&tstate, sizeof(tstate), (void *)py->tstate_current) || !tstate)
		return; /* no thread holds the GIL */
	if (bpf_probe_read_user(&native_tid, sizeof(native_tid), (void *)(tstate + py->tstate_native_tid)))
		goto fail;
	if ((__u32)native_tid != tid)
		return; /* this thread runs without the GIL: no Python frames are its own */
	if (bpf_probe_read_user(&cframe, sizeof(cframe), (void *)(tstate + py->tstate_cframe)) || !cframe)
		goto fail;
	if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(cframe + py->cframe_current_frame)))
		goto fail;
	for (int i = 0; i < MAX_PY_FRAMES; i++) {
		if (!frame)
			break;
		if (bpf_probe_read_user(&code, sizeof(code), (void *)(frame + py->frame_code)))
			goto fail;
		if (bpf_probe_read_user(&is_entry, sizeof(is_entry), (void *)(frame + py->frame_is_entry)))
			goto fail;
		key->py_frames[i] = code | (is_entry ? 1 : 0);
		key->py_depth = i + 1;
		if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(frame + py->frame_previous)))
			goto fail;
	}
	return;
fail:
	bump(STAT_PY_ERRORS);
}

SEC("perf_event")
int profile_sample(struct sample_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id, zero = 0;
	__u32 *target = bpf_map_lookup_elem(&config, &zero);

	if (target && *target && pid != *target)
		return 0;
	if (pid == 0) {
		bump(STAT_IDLE);
		return 0;
	}
	struct stack_key *key = bpf_map_lookup_elem(&scratch, &zero);

	if (!key)
		return 0;
	__builtin_memset(key, 0, sizeof(*key));
	bump(STAT_SAMPLES);
	key->pid = pid;
	key->kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
	key->user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	if (key->kernel_stack_id == -17)
		bump(STAT_KERNEL_COLLISIONS);
	else if (key->kernel_stack_id < 0)
		bump(STAT_KERNEL_MISSING);
	if (key->user_stack_id == -17)
		bump(STAT_USER_COLLISIONS);
	else if (key->user_stack_id < 0)
		bump(STAT_USER_MISSING);

	struct python_proc *py = bpf_map_lookup_elem(&python_procs, &pid);

	if (py)
		python_frames(key, py, tid);

	__u64 *count = bpf_map_lookup_elem(&counts, key);

	if (count) {
		__sync_fetch_and_add(count, 1);
	} else {
		__u64 one = 1;
		long err = bpf_map_update_elem(&counts, key, &one, BPF_NOEXIST);

		if (err == -17) { /* another CPU inserted it meanwhile */
			count = bpf_map_lookup_elem(&counts, key);
			if (count)
				__sync_fetch_and_add(count, 1);
		} else if (err) {
			bump(STAT_LOST); /* the counts map is full */
		}
	}
	return 0;
}

BPF_LICENSE("GPL");
