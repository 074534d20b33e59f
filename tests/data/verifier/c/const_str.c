// ARG_PTR_TO_CONST_STR (bpf_snprintf's format, bpf_strncmp's second string) and the format check
// the kernel makes when it loads a bpf_snprintf call.
#include <bpf_helpers.h>

char out[64] = {};
char scratch_fmt[16] = "pid %d";  /* .data: writable, so not a constant string */
__u64 seen = 0;

static const char fmt_ok[] = "pid %d comm %s x%llx %c %%";
static const char fmt_bad_conv[] = "value %q";
static const char fmt_two[] = "%d and %d";
static const char fmt_ptr[] = "%pI4 %pks %px";
static const char fmt_bad_ptr[] = "%pZ";
static const char fmt_str_glued[] = "%sabc";
static const char word[] = "abc";

SEC("tracepoint/syscalls/sys_enter_getppid")
int snprintf_ok(void *ctx)
{
	char comm[16];
	__u64 data[5];

	bpf_get_current_comm(comm, sizeof(comm));
	data[0] = bpf_get_current_pid_tgid() >> 32;
	data[1] = (__u64)(long)comm;
	data[2] = 255;
	data[3] = 'c';
	data[4] = 0;
	seen = bpf_snprintf(out, sizeof(out), fmt_ok, data, sizeof(data));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int snprintf_extra_args(void *ctx)
{
	__u64 data[3] = {1, 2, 3};  /* more arguments than conversions: allowed */

	seen = bpf_snprintf(out, sizeof(out), fmt_two, data, sizeof(data));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int snprintf_pointers(void *ctx)
{
	__u32 addr = 0x0100007f;
	__u64 data[3] = {(__u64)(long)&addr, (__u64)(long)fmt_two, 0};

	seen = bpf_snprintf(out, sizeof(out), fmt_ptr, data, sizeof(data));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int snprintf_bad_conv(void *ctx)
{
	__u64 data[1] = {1};

	seen = bpf_snprintf(out, sizeof(out), fmt_bad_conv, data, sizeof(data));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int snprintf_too_few_args(void *ctx)
{
	__u64 data[1] = {1};

	seen = bpf_snprintf(out, sizeof(out), fmt_two, data, sizeof(data));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int snprintf_bad_ptr(void *ctx)
{
	__u64 data[1] = {1};

	seen = bpf_snprintf(out, sizeof(out), fmt_bad_ptr, data, sizeof(data));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int snprintf_glued_str(void *ctx)
{
	__u64 data[1] = {(__u64)(long)word};

	seen = bpf_snprintf(out, sizeof(out), fmt_str_glued, data, sizeof(data));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int snprintf_writable_fmt(void *ctx)
{
	__u64 data[1] = {1};

	seen = bpf_snprintf(out, sizeof(out), scratch_fmt, data, sizeof(data));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int snprintf_stack_fmt(void *ctx)
{
	char fmt[8] = "pid %d";
	__u64 data[1] = {1};

	seen = bpf_snprintf(out, sizeof(out), fmt, data, sizeof(data));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int snprintf_variable_fmt(void *ctx)
{
	__u64 data[2] = {1, 2};

	/* one of two places in the format: not a constant address */
	seen = bpf_snprintf(out, sizeof(out), fmt_two + (bpf_get_prandom_u32() & 1), data, sizeof(data));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int strncmp_const(void *ctx)
{
	char comm[16];

	bpf_get_current_comm(comm, sizeof(comm));
	seen = bpf_strncmp(comm, sizeof(comm), word);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
