/* SPDX-License-Identifier: MIT */
/*
 * usdt.bpf.h - USDT (user statically defined tracepoint) programs (pybpf): BPF_USDT() gives a
 * uprobe program the probe's arguments by name, decoded at run time from an argument spec the
 * loader writes into the __bpf_usdt_specs map (one spec per probe site, found through the
 * attach cookie, or through the probe address when the kernel has no cookies).
 * Source-compatible with libbpf's <bpf/usdt.bpf.h>.
 *
 *   SEC("usdt/./app:provider:probe") int BPF_USDT(on_probe, int x, const char *s) { ... }
 */
#ifndef __PYBPF_USDT_BPF_H
#define __PYBPF_USDT_BPF_H

#include "bpf_helpers.h"
#include "bpf_tracing.h"

/* how many probe sites (specs) and probe addresses a program can be attached to */
#ifndef BPF_USDT_MAX_SPEC_CNT
#define BPF_USDT_MAX_SPEC_CNT 256
#endif
#ifndef BPF_USDT_MAX_IP_CNT
#define BPF_USDT_MAX_IP_CNT (4 * BPF_USDT_MAX_SPEC_CNT)
#endif
/* a USDT probe has at most 12 arguments */
#define BPF_USDT_MAX_ARG_CNT 12

/* Where one argument's value lives. */
enum __bpf_usdt_arg_type {
	BPF_USDT_ARG_CONST,     /* the value is val_off itself */
	BPF_USDT_ARG_REG,       /* a register: the u64 at reg_off in struct pt_regs, plus val_off */
	BPF_USDT_ARG_REG_DEREF, /* user memory at (that register + val_off) */
	BPF_USDT_ARG_SIB,       /* base register + index register << scale + val_off (x86) */
};

/* One argument, as the loader decodes it from the probe's note. */
struct __bpf_usdt_arg_spec {
	__u64 val_off;                    /* constant, or offset added to the address/value */
	enum __bpf_usdt_arg_type arg_type;
	short reg_off;                    /* base register: byte offset in struct pt_regs */
	short idx_reg_off;                /* SIB index register: byte offset in struct pt_regs */
	char scale_bitshift;              /* SIB: index << scale_bitshift */
	_Bool arg_signed;                 /* sign-extend the value from its size */
	char arg_bitshift;                /* 64 - the argument's size in bits */
};

/* One probe site: its arguments and the user's cookie for it. */
struct __bpf_usdt_spec {
	struct __bpf_usdt_arg_spec args[BPF_USDT_MAX_ARG_CNT];
	__u64 usdt_cookie;
	short arg_cnt;
};

/* spec id -> spec (written by the loader before the program is attached) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPF_USDT_MAX_SPEC_CNT);
	__type(key, int);
	__type(value, struct __bpf_usdt_spec);
} __bpf_usdt_specs SEC(".maps") __weak;

/* probe address -> spec id, for kernels without attach cookies */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPF_USDT_MAX_IP_CNT);
	__type(key, long);
	__type(value, __u32);
} __bpf_usdt_ip_to_spec_id SEC(".maps") __weak;

/* set by the loader: 1 when the kernel passes attach cookies (bpf_get_attach_cookie) */
extern const _Bool LINUX_HAS_BPF_COOKIE __kconfig;

/* the spec id of the probe site that fired, or a negative errno */
static __always_inline int __bpf_usdt_spec_id(struct pt_regs *ctx)
{
	if (!LINUX_HAS_BPF_COOKIE) {
		long ip = PT_REGS_IP(ctx);
		int *spec_id = bpf_map_lookup_elem(&__bpf_usdt_ip_to_spec_id, &ip);

		return spec_id ? *spec_id : -3 /* ESRCH */;
	}
	return bpf_get_attach_cookie(ctx);
}

static __always_inline struct __bpf_usdt_spec *__bpf_usdt_spec(struct pt_regs *ctx)
{
	int spec_id = __bpf_usdt_spec_id(ctx);

	if (spec_id < 0)
		return (void *)0;
	return bpf_map_lookup_elem(&__bpf_usdt_specs, &spec_id);
}

/* bpf_usdt_arg_cnt(ctx): how many arguments the probe that fired has (or -errno). */
static __always_inline int bpf_usdt_arg_cnt(struct pt_regs *ctx)
{
	struct __bpf_usdt_spec *spec = __bpf_usdt_spec(ctx);

	return spec ? spec->arg_cnt : -3 /* ESRCH */;
}

/* bpf_usdt_arg_size(ctx, n): the size in bytes of argument n (or -errno). */
static __always_inline int bpf_usdt_arg_size(struct pt_regs *ctx, __u64 arg_num)
{
	struct __bpf_usdt_spec *spec = __bpf_usdt_spec(ctx);

	if (!spec)
		return -3 /* ESRCH */;
	if (arg_num >= BPF_USDT_MAX_ARG_CNT || arg_num >= (__u64)spec->arg_cnt)
		return -2 /* ENOENT */;
	return (64 - spec->args[arg_num].arg_bitshift) / 8;
}

/* bpf_usdt_arg(ctx, n, &value): argument n of the probe that fired, widened to long; 0 or -errno. */
static __always_inline int bpf_usdt_arg(struct pt_regs *ctx, __u64 arg_num, long *res)
{
	struct __bpf_usdt_spec *spec = __bpf_usdt_spec(ctx);
	struct __bpf_usdt_arg_spec *arg;
	unsigned long val, idx;
	int err;

	*res = 0;
	if (!spec)
		return -3 /* ESRCH */;
	if (arg_num >= BPF_USDT_MAX_ARG_CNT || arg_num >= (__u64)spec->arg_cnt)
		return -2 /* ENOENT */;
	arg = &spec->args[arg_num];
	switch (arg->arg_type) {
	case BPF_USDT_ARG_CONST:
		val = arg->val_off;
		break;
	case BPF_USDT_ARG_REG:
		/* registers are read by offset: a variable offset into the context is not allowed */
		err = bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + arg->reg_off);
		if (err)
			return err;
		val += arg->val_off;
		break;
	case BPF_USDT_ARG_REG_DEREF:
		err = bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + arg->reg_off);
		if (err)
			return err;
		err = bpf_probe_read_user(&val, sizeof(val), (void *)val + arg->val_off);
		if (err)
			return err;
		break;
	case BPF_USDT_ARG_SIB:
		err = bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + arg->reg_off);
		if (err)
			return err;
		err = bpf_probe_read_kernel(&idx, sizeof(idx), (void *)ctx + arg->idx_reg_off);
		if (err)
			return err;
		err = bpf_probe_read_user(&val, sizeof(val),
					  (void *)(val + (idx << arg->scale_bitshift) + arg->val_off));
		if (err)
			return err;
		break;
	default:
		return -22 /* EINVAL */;
	}
	/* keep the argument's own bits, sign- or zero-extended */
	val <<= arg->arg_bitshift;
	if (arg->arg_signed)
		val = ((long)val) >> arg->arg_bitshift;
	else
		val = val >> arg->arg_bitshift;
	*res = val;
	return 0;
}

/* bpf_usdt_cookie(ctx): the cookie the user gave when attaching to this probe site. */
static __always_inline long bpf_usdt_cookie(struct pt_regs *ctx)
{
	struct __bpf_usdt_spec *spec = __bpf_usdt_spec(ctx);

	return spec ? spec->usdt_cookie : 0;
}

/* the probe's arguments, each read with bpf_usdt_arg (0 when unavailable) */
#define ___pybpf_usdt_arg(n) ({ long ___v = 0; bpf_usdt_arg(ctx, n, &___v); ___v; })
#define ___pybpf_usdt_args0() ctx
#define ___pybpf_usdt_args1(x) ___pybpf_usdt_args0(), (void *)___pybpf_usdt_arg(0)
#define ___pybpf_usdt_args2(x, args...) ___pybpf_usdt_args1(args), (void *)___pybpf_usdt_arg(1)
#define ___pybpf_usdt_args3(x, args...) ___pybpf_usdt_args2(args), (void *)___pybpf_usdt_arg(2)
#define ___pybpf_usdt_args4(x, args...) ___pybpf_usdt_args3(args), (void *)___pybpf_usdt_arg(3)
#define ___pybpf_usdt_args5(x, args...) ___pybpf_usdt_args4(args), (void *)___pybpf_usdt_arg(4)
#define ___pybpf_usdt_args6(x, args...) ___pybpf_usdt_args5(args), (void *)___pybpf_usdt_arg(5)
#define ___pybpf_usdt_args7(x, args...) ___pybpf_usdt_args6(args), (void *)___pybpf_usdt_arg(6)
#define ___pybpf_usdt_args8(x, args...) ___pybpf_usdt_args7(args), (void *)___pybpf_usdt_arg(7)
#define ___pybpf_usdt_args9(x, args...) ___pybpf_usdt_args8(args), (void *)___pybpf_usdt_arg(8)
#define ___pybpf_usdt_args10(x, args...) ___pybpf_usdt_args9(args), (void *)___pybpf_usdt_arg(9)
#define ___pybpf_usdt_args11(x, args...) ___pybpf_usdt_args10(args), (void *)___pybpf_usdt_arg(10)
#define ___pybpf_usdt_args12(x, args...) ___pybpf_usdt_args11(args), (void *)___pybpf_usdt_arg(11)
#define ___pybpf_usdt_args(args...) ___bpf_apply(___pybpf_usdt_args, ___bpf_narg(args))(args)

/* int BPF_USDT(name, int x, const char *s) { ... }: a USDT program with named arguments. */
#define BPF_USDT(name, args...) \
	___pybpf_wrap(name, struct pt_regs *ctx, ___pybpf_usdt_args(args), ##args)

#endif /* __PYBPF_USDT_BPF_H */
