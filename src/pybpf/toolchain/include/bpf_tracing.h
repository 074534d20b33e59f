/* SPDX-License-Identifier: MIT */
/*
 * bpf_tracing.h - reading probe arguments in tracing programs (pybpf): PT_REGS_* accessors for
 * the registers a kprobe/uprobe sees (x86-64 by default, arm64 with -D__TARGET_ARCH_arm64),
 * the syscall-argument variants, and BPF_PROG()/BPF_KPROBE() wrappers that give a program
 * named, typed arguments. The register layouts are the kernel's struct pt_regs ABI.
 */
#ifndef __PYBPF_BPF_TRACING_H
#define __PYBPF_BPF_TRACING_H

#include "bpf_helpers.h"

struct pt_regs;

#if defined(__TARGET_ARCH_arm64)
/* arm64: struct user_pt_regs { u64 regs[31]; u64 sp; u64 pc; u64 pstate; } */
struct __pybpf_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};
#define __PYBPF_R(x) ((const struct __pybpf_pt_regs *)(x))
#define PT_REGS_PARM1(x) (__PYBPF_R(x)->regs[0])
#define PT_REGS_PARM2(x) (__PYBPF_R(x)->regs[1])
#define PT_REGS_PARM3(x) (__PYBPF_R(x)->regs[2])
#define PT_REGS_PARM4(x) (__PYBPF_R(x)->regs[3])
#define PT_REGS_PARM5(x) (__PYBPF_R(x)->regs[4])
#define PT_REGS_PARM6(x) (__PYBPF_R(x)->regs[5])
#define PT_REGS_PARM7(x) (__PYBPF_R(x)->regs[6])
#define PT_REGS_PARM8(x) (__PYBPF_R(x)->regs[7])
#define PT_REGS_RET(x) (__PYBPF_R(x)->regs[30])
#define PT_REGS_FP(x) (__PYBPF_R(x)->regs[29])
#define PT_REGS_RC(x) (__PYBPF_R(x)->regs[0])
#define PT_REGS_SP(x) (__PYBPF_R(x)->sp)
#define PT_REGS_IP(x) (__PYBPF_R(x)->pc)
/* syscall wrappers receive the user registers in a struct pt_regs pointed to by PARM1 */
#define PT_REGS_PARM1_SYSCALL(x) PT_REGS_PARM1(x)
#define PT_REGS_PARM2_SYSCALL(x) PT_REGS_PARM2(x)
#define PT_REGS_PARM3_SYSCALL(x) PT_REGS_PARM3(x)
#define PT_REGS_PARM4_SYSCALL(x) PT_REGS_PARM4(x)
#define PT_REGS_PARM5_SYSCALL(x) PT_REGS_PARM5(x)
#define PT_REGS_PARM6_SYSCALL(x) PT_REGS_PARM6(x)
#else
/* x86-64: the order of struct pt_regs as the kernel saves it on entry */
struct __pybpf_pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx;
	unsigned long r11, r10, r9, r8, ax, cx, dx, si, di;
	unsigned long orig_ax;
	unsigned long ip, cs, flags, sp, ss;
};
#define __PYBPF_R(x) ((const struct __pybpf_pt_regs *)(x))
/* System V AMD64 calling convention: rdi, rsi, rdx, rcx, r8, r9, then the stack */
#define PT_REGS_PARM1(x) (__PYBPF_R(x)->di)
#define PT_REGS_PARM2(x) (__PYBPF_R(x)->si)
#define PT_REGS_PARM3(x) (__PYBPF_R(x)->dx)
#define PT_REGS_PARM4(x) (__PYBPF_R(x)->cx)
#define PT_REGS_PARM5(x) (__PYBPF_R(x)->r8)
#define PT_REGS_PARM6(x) (__PYBPF_R(x)->r9)
#define PT_REGS_RET(x) (__PYBPF_R(x)->sp) /* the return address is at *sp on entry */
#define PT_REGS_FP(x) (__PYBPF_R(x)->bp)
#define PT_REGS_RC(x) (__PYBPF_R(x)->ax)
#define PT_REGS_SP(x) (__PYBPF_R(x)->sp)
#define PT_REGS_IP(x) (__PYBPF_R(x)->ip)
/* the syscall ABI passes the 4th argument in r10 instead of rcx */
#define PT_REGS_PARM1_SYSCALL(x) PT_REGS_PARM1(x)
#define PT_REGS_PARM2_SYSCALL(x) PT_REGS_PARM2(x)
#define PT_REGS_PARM3_SYSCALL(x) PT_REGS_PARM3(x)
#define PT_REGS_PARM4_SYSCALL(x) (__PYBPF_R(x)->r10)
#define PT_REGS_PARM5_SYSCALL(x) PT_REGS_PARM5(x)
#define PT_REGS_PARM6_SYSCALL(x) PT_REGS_PARM6(x)
#endif

/* ---- argument counting ---------------------------------------------------------------------- */
#define ___pybpf_nth(_, _1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, N, ...) N
#define ___pybpf_narg(...) ___pybpf_nth(_, ##__VA_ARGS__, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define ___pybpf_cat(a, b) a##b
#define ___pybpf_apply_n(fn, n) ___pybpf_cat(fn, n)

/*
 * BPF_PROG(name, args...): for fentry/fexit/tp_btf/raw_tp programs, whose context is an array
 * of 64-bit argument words. Use as `int BPF_PROG(name, struct file *f, int n) { ... }`: it
 * defines `name(unsigned long long *ctx)`, which calls the body with each word cast to its type.
 */
#define ___pybpf_ctx_cast0() ctx
#define ___pybpf_ctx_cast1(x) ___pybpf_ctx_cast0(), (void *)ctx[0]
#define ___pybpf_ctx_cast2(x, args...) ___pybpf_ctx_cast1(args), (void *)ctx[1]
#define ___pybpf_ctx_cast3(x, args...) ___pybpf_ctx_cast2(args), (void *)ctx[2]
#define ___pybpf_ctx_cast4(x, args...) ___pybpf_ctx_cast3(args), (void *)ctx[3]
#define ___pybpf_ctx_cast5(x, args...) ___pybpf_ctx_cast4(args), (void *)ctx[4]
#define ___pybpf_ctx_cast6(x, args...) ___pybpf_ctx_cast5(args), (void *)ctx[5]
#define ___pybpf_ctx_cast7(x, args...) ___pybpf_ctx_cast6(args), (void *)ctx[6]
#define ___pybpf_ctx_cast8(x, args...) ___pybpf_ctx_cast7(args), (void *)ctx[7]
#define ___pybpf_ctx_cast(args...) ___pybpf_apply_n(___pybpf_ctx_cast, ___pybpf_narg(args))(args)

#define BPF_PROG(name, args...)                                                        \
	name(unsigned long long *ctx);                                                 \
	static __always_inline typeof(name(0)) ____##name(unsigned long long *ctx, ##args);            \
	typeof(name(0)) name(unsigned long long *ctx)                                            \
	{                                                                                  \
		_Pragma("GCC diagnostic push")                                                 \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")                         \
		return ____##name(___pybpf_ctx_cast(args));                                    \
		_Pragma("GCC diagnostic pop")                                                  \
	}                                                                                  \
	static __always_inline typeof(name(0)) ____##name(unsigned long long *ctx, ##args)

/* BPF_KPROBE(name, args...) / BPF_UPROBE(...): arguments taken from the probed registers. */
#define ___pybpf_kprobe_args0() ctx
#define ___pybpf_kprobe_args1(x) ___pybpf_kprobe_args0(), (void *)PT_REGS_PARM1(ctx)
#define ___pybpf_kprobe_args2(x, args...) ___pybpf_kprobe_args1(args), (void *)PT_REGS_PARM2(ctx)
#define ___pybpf_kprobe_args3(x, args...) ___pybpf_kprobe_args2(args), (void *)PT_REGS_PARM3(ctx)
#define ___pybpf_kprobe_args4(x, args...) ___pybpf_kprobe_args3(args), (void *)PT_REGS_PARM4(ctx)
#define ___pybpf_kprobe_args5(x, args...) ___pybpf_kprobe_args4(args), (void *)PT_REGS_PARM5(ctx)
#define ___pybpf_kprobe_args6(x, args...) ___pybpf_kprobe_args5(args), (void *)PT_REGS_PARM6(ctx)
#define ___pybpf_kprobe_args(args...) \
	___pybpf_apply_n(___pybpf_kprobe_args, ___pybpf_narg(args))(args)

#define BPF_KPROBE(name, args...)                                                      \
	name(struct pt_regs *ctx);                                                     \
	static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args);                \
	typeof(name(0)) name(struct pt_regs *ctx)                                                \
	{                                                                                  \
		_Pragma("GCC diagnostic push")                                                 \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")                         \
		return ____##name(___pybpf_kprobe_args(args));                                 \
		_Pragma("GCC diagnostic pop")                                                  \
	}                                                                                  \
	static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args)
#define BPF_UPROBE(name, args...) BPF_KPROBE(name, ##args)

/* BPF_KRETPROBE(name, ret) / BPF_URETPROBE: the probed function's return value. */
#define BPF_KRETPROBE(name, args...)                                                   \
	name(struct pt_regs *ctx);                                                     \
	static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args);                \
	typeof(name(0)) name(struct pt_regs *ctx)                                                \
	{                                                                                  \
		_Pragma("GCC diagnostic push")                                                 \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")                         \
		return ____##name(ctx, (void *)PT_REGS_RC(ctx));                               \
		_Pragma("GCC diagnostic pop")                                                  \
	}                                                                                  \
	static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args)
#define BPF_URETPROBE(name, args...) BPF_KRETPROBE(name, ##args)

#endif /* __PYBPF_BPF_TRACING_H */
