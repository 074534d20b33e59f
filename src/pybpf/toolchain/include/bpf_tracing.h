/* SPDX-License-Identifier: MIT */
/*
 * bpf_tracing.h - reading probe arguments in tracing programs (pybpf): PT_REGS_* accessors for
 * the registers a kprobe/uprobe sees (x86-64 by default or with -D__TARGET_ARCH_x86, arm64 with
 * -D__TARGET_ARCH_arm64), their CO-RE (_CORE) and syscall (_SYSCALL) variants, and the wrappers
 * that give a program named, typed arguments: BPF_PROG, BPF_PROG2 (fentry/fexit/tp_btf/raw_tp),
 * BPF_KPROBE, BPF_KRETPROBE, BPF_UPROBE, BPF_URETPROBE, BPF_KSYSCALL / BPF_KPROBE_SYSCALL.
 * The register layouts are the kernel's struct pt_regs ABI. Source-compatible with libbpf's
 * <bpf/bpf_tracing.h>.
 *
 *   SEC("kprobe/do_unlinkat") int BPF_KPROBE(on_unlink, int dfd, struct filename *name) { ... }
 *   SEC("kretprobe/do_unlinkat") int BPF_KRETPROBE(on_unlink_ret, long ret) { ... }
 */
#ifndef __PYBPF_BPF_TRACING_H
#define __PYBPF_BPF_TRACING_H

#include "bpf_helpers.h"
#include "bpf_core_read.h"

struct pt_regs;

#if defined(__TARGET_ARCH_arm64)
#define __PYBPF_ARCH_ARM64 1
#elif defined(__TARGET_ARCH_x86) || !(defined(__TARGET_ARCH_s390) || defined(__TARGET_ARCH_arm) || \
	defined(__TARGET_ARCH_mips) || defined(__TARGET_ARCH_powerpc) ||                          \
	defined(__TARGET_ARCH_sparc) || defined(__TARGET_ARCH_riscv) ||                           \
	defined(__TARGET_ARCH_arc) || defined(__TARGET_ARCH_loongarch))
#define __PYBPF_ARCH_X86 1
#endif

#if defined(__PYBPF_ARCH_ARM64)
/*
 * arm64: struct user_pt_regs { u64 regs[31]; u64 sp; u64 pc; u64 pstate; } opens struct pt_regs;
 * the kernel saves the first syscall argument again in orig_x0, since x0 gets the return value.
 */
struct __pybpf_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};
/* the same, relocatable against the running kernel's struct pt_regs (flavour of pt_regs) */
struct pt_regs___pybpf {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
	__u64 orig_x0;
} __attribute__((preserve_access_index));
#define __PYBPF_PARM1 regs[0]
#define __PYBPF_PARM2 regs[1]
#define __PYBPF_PARM3 regs[2]
#define __PYBPF_PARM4 regs[3]
#define __PYBPF_PARM5 regs[4]
#define __PYBPF_PARM6 regs[5]
#define __PYBPF_PARM7 regs[6]
#define __PYBPF_PARM8 regs[7]
#define __PYBPF_RET regs[30]
#define __PYBPF_FP regs[29]
#define __PYBPF_RC regs[0]
#define __PYBPF_SP sp
#define __PYBPF_IP pc
#define __PYBPF_SYSCALL_PARM1 orig_x0
#define __PYBPF_SYSCALL_PARM4 regs[3]
#elif defined(__PYBPF_ARCH_X86)
/* x86-64: struct pt_regs in the order the kernel saves the registers on entry */
struct __pybpf_pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx;
	unsigned long r11, r10, r9, r8, ax, cx, dx, si, di;
	unsigned long orig_ax;
	unsigned long ip, cs, flags, sp, ss;
};
/* the same, relocatable against the running kernel's struct pt_regs (flavour of pt_regs) */
struct pt_regs___pybpf {
	unsigned long r15, r14, r13, r12, bp, bx;
	unsigned long r11, r10, r9, r8, ax, cx, dx, si, di;
	unsigned long orig_ax;
	unsigned long ip, cs, flags, sp, ss;
} __attribute__((preserve_access_index));
/* System V AMD64 calling convention: rdi, rsi, rdx, rcx, r8, r9, then the stack */
#define __PYBPF_PARM1 di
#define __PYBPF_PARM2 si
#define __PYBPF_PARM3 dx
#define __PYBPF_PARM4 cx
#define __PYBPF_PARM5 r8
#define __PYBPF_PARM6 r9
#define __PYBPF_RET sp /* the return address is at *sp on entry */
#define __PYBPF_FP bp
#define __PYBPF_RC ax
#define __PYBPF_SP sp
#define __PYBPF_IP ip
/* the syscall ABI passes the 4th argument in r10 instead of rcx */
#define __PYBPF_SYSCALL_PARM1 di
#define __PYBPF_SYSCALL_PARM4 r10
#endif

#if defined(__PYBPF_ARCH_ARM64) || defined(__PYBPF_ARCH_X86)
#define __PYBPF_R(x) ((const struct __pybpf_pt_regs *)(x))
#define __PYBPF_RC_CAST(x) ((const struct pt_regs___pybpf *)(x))

/* direct reads of the probe's context (kprobe, uprobe, perf_event programs) */
#define PT_REGS_PARM1(x) (__PYBPF_R(x)->__PYBPF_PARM1)
#define PT_REGS_PARM2(x) (__PYBPF_R(x)->__PYBPF_PARM2)
#define PT_REGS_PARM3(x) (__PYBPF_R(x)->__PYBPF_PARM3)
#define PT_REGS_PARM4(x) (__PYBPF_R(x)->__PYBPF_PARM4)
#define PT_REGS_PARM5(x) (__PYBPF_R(x)->__PYBPF_PARM5)
#define PT_REGS_PARM6(x) (__PYBPF_R(x)->__PYBPF_PARM6)
#define PT_REGS_RET(x) (__PYBPF_R(x)->__PYBPF_RET)
#define PT_REGS_FP(x) (__PYBPF_R(x)->__PYBPF_FP)
#define PT_REGS_RC(x) (__PYBPF_R(x)->__PYBPF_RC)
#define PT_REGS_SP(x) (__PYBPF_R(x)->__PYBPF_SP)
#define PT_REGS_IP(x) (__PYBPF_R(x)->__PYBPF_IP)

/* the same through bpf_probe_read_kernel, relocated: for a struct pt_regs in kernel memory */
#define PT_REGS_PARM1_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_PARM1)
#define PT_REGS_PARM2_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_PARM2)
#define PT_REGS_PARM3_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_PARM3)
#define PT_REGS_PARM4_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_PARM4)
#define PT_REGS_PARM5_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_PARM5)
#define PT_REGS_PARM6_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_PARM6)
#define PT_REGS_RET_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_RET)
#define PT_REGS_FP_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_FP)
#define PT_REGS_RC_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_RC)
#define PT_REGS_SP_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_SP)
#define PT_REGS_IP_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_IP)

#if defined(__PYBPF_ARCH_ARM64)
#define PT_REGS_PARM7(x) (__PYBPF_R(x)->__PYBPF_PARM7)
#define PT_REGS_PARM8(x) (__PYBPF_R(x)->__PYBPF_PARM8)
#define PT_REGS_PARM7_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_PARM7)
#define PT_REGS_PARM8_CORE(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_PARM8)
/* orig_x0 lies beyond user_pt_regs: only a relocated read reaches it */
#define PT_REGS_PARM1_SYSCALL(x) PT_REGS_PARM1_CORE_SYSCALL(x)
#define PT_REGS_PARM1_CORE_SYSCALL(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_SYSCALL_PARM1)
#else
#define PT_REGS_PARM1_SYSCALL(x) (__PYBPF_R(x)->__PYBPF_SYSCALL_PARM1)
#define PT_REGS_PARM1_CORE_SYSCALL(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_SYSCALL_PARM1)
#endif
/* syscall arguments as the syscall ABI passes them (from the user registers a wrapper gets) */
#define PT_REGS_PARM2_SYSCALL(x) PT_REGS_PARM2(x)
#define PT_REGS_PARM3_SYSCALL(x) PT_REGS_PARM3(x)
#define PT_REGS_PARM4_SYSCALL(x) (__PYBPF_R(x)->__PYBPF_SYSCALL_PARM4)
#define PT_REGS_PARM5_SYSCALL(x) PT_REGS_PARM5(x)
#define PT_REGS_PARM6_SYSCALL(x) PT_REGS_PARM6(x)
#define PT_REGS_PARM2_CORE_SYSCALL(x) PT_REGS_PARM2_CORE(x)
#define PT_REGS_PARM3_CORE_SYSCALL(x) PT_REGS_PARM3_CORE(x)
#define PT_REGS_PARM4_CORE_SYSCALL(x) BPF_CORE_READ(__PYBPF_RC_CAST(x), __PYBPF_SYSCALL_PARM4)
#define PT_REGS_PARM5_CORE_SYSCALL(x) PT_REGS_PARM5_CORE(x)
#define PT_REGS_PARM6_CORE_SYSCALL(x) PT_REGS_PARM6_CORE(x)

/* A syscall wrapper's (__x64_sys_*) one argument: the user's registers. */
#define PT_REGS_SYSCALL_REGS(ctx) ((struct pt_regs *)PT_REGS_PARM1(ctx))

/* The return address of the probed function, at entry and at return. */
#if defined(__PYBPF_ARCH_ARM64)
#define BPF_KPROBE_READ_RET_IP(ip, ctx) ({ (ip) = PT_REGS_RET(ctx); })
#else
#define BPF_KPROBE_READ_RET_IP(ip, ctx) \
	({ bpf_probe_read_kernel(&(ip), sizeof(ip), (void *)PT_REGS_RET(ctx)); })
#endif
#define BPF_KRETPROBE_READ_RET_IP(ip, ctx) \
	({ bpf_probe_read_kernel(&(ip), sizeof(ip), (void *)(PT_REGS_FP(ctx) + sizeof(ip))); })
#endif /* a known target architecture */

/* ---- BPF_PROG: a context of 64-bit argument words (fentry/fexit/fmod_ret/lsm/tp_btf/raw_tp) ---- */
#define ___bpf_ctx_cast0() ctx
#define ___bpf_ctx_cast1(x) ___bpf_ctx_cast0(), (void *)ctx[0]
#define ___bpf_ctx_cast2(x, args...) ___bpf_ctx_cast1(args), (void *)ctx[1]
#define ___bpf_ctx_cast3(x, args...) ___bpf_ctx_cast2(args), (void *)ctx[2]
#define ___bpf_ctx_cast4(x, args...) ___bpf_ctx_cast3(args), (void *)ctx[3]
#define ___bpf_ctx_cast5(x, args...) ___bpf_ctx_cast4(args), (void *)ctx[4]
#define ___bpf_ctx_cast6(x, args...) ___bpf_ctx_cast5(args), (void *)ctx[5]
#define ___bpf_ctx_cast7(x, args...) ___bpf_ctx_cast6(args), (void *)ctx[6]
#define ___bpf_ctx_cast8(x, args...) ___bpf_ctx_cast7(args), (void *)ctx[7]
#define ___bpf_ctx_cast9(x, args...) ___bpf_ctx_cast8(args), (void *)ctx[8]
#define ___bpf_ctx_cast10(x, args...) ___bpf_ctx_cast9(args), (void *)ctx[9]
#define ___bpf_ctx_cast11(x, args...) ___bpf_ctx_cast10(args), (void *)ctx[10]
#define ___bpf_ctx_cast12(x, args...) ___bpf_ctx_cast11(args), (void *)ctx[11]
#define ___bpf_ctx_cast(args...) ___bpf_apply(___bpf_ctx_cast, ___bpf_narg(args))(args)

/*
 * The wrapper every BPF_* macro below defines: `name(ctx_decl)` is the program, which calls the
 * user's body `____name(ctx_decl, args...)` with the values `vals`. Integer/pointer conversions
 * between the 64-bit words and the declared types are intended.
 */
#define ___pybpf_wrap(name, ctx_decl, vals, args...)                                    \
	name(ctx_decl);                                                                 \
	static __always_inline typeof(name(0)) ____##name(ctx_decl, ##args);           \
	typeof(name(0)) name(ctx_decl)                                                  \
	{                                                                               \
		_Pragma("GCC diagnostic push")                                          \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")                  \
		return ____##name(vals);                                                \
		_Pragma("GCC diagnostic pop")                                           \
	}                                                                               \
	static __always_inline typeof(name(0)) ____##name(ctx_decl, ##args)

/* int BPF_PROG(name, struct file *f, int n) { ... }: name(unsigned long long *ctx) with typed args */
#define BPF_PROG(name, args...) \
	___pybpf_wrap(name, unsigned long long *ctx, ___bpf_ctx_cast(args), ##args)

/*
 * BPF_PROG2(name, type1, arg1, type2, arg2, ...): the same with each argument's type given apart
 * from its name, so that a struct passed by value (up to 16 bytes, two words) is rebuilt whole.
 */
#define ___pybpf_nth2(_, _1, _2, _3, _4, _5, _6, _7, _8, _9, _a, _b, _c, _d, _e, _f, _g, _h, _i, \
		      _j, _k, _l, _m, _n, _o, N, ...) N
#define ___pybpf_narg2(...) ___pybpf_nth2(_, ##__VA_ARGS__, 24, 23, 22, 21, 20, 19, 18, 17, 16, \
					  15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
/* how many context words a value of type t occupies */
#define ___pybpf_words(t) (sizeof(t) > 8 ? 2 : 1)
/* the value of type t that starts at context word n */
#define ___pybpf_ctx_value(t, n)                                                        \
	({                                                                              \
		union {                                                                 \
			unsigned long long w[2];                                        \
			t v;                                                            \
		} ___u = { .w = { ctx[n], sizeof(t) > 8 ? ctx[(n) + 1] : 0 } };         \
		___u.v;                                                                 \
	})
#define ___pybpf_p2_decl0()
#define ___pybpf_p2_decl2(t, a) , t a
#define ___pybpf_p2_decl4(t, a, args...) , t a ___pybpf_p2_decl2(args)
#define ___pybpf_p2_decl6(t, a, args...) , t a ___pybpf_p2_decl4(args)
#define ___pybpf_p2_decl8(t, a, args...) , t a ___pybpf_p2_decl6(args)
#define ___pybpf_p2_decl10(t, a, args...) , t a ___pybpf_p2_decl8(args)
#define ___pybpf_p2_decl12(t, a, args...) , t a ___pybpf_p2_decl10(args)
#define ___pybpf_p2_decl14(t, a, args...) , t a ___pybpf_p2_decl12(args)
#define ___pybpf_p2_decl16(t, a, args...) , t a ___pybpf_p2_decl14(args)
#define ___pybpf_p2_decl18(t, a, args...) , t a ___pybpf_p2_decl16(args)
#define ___pybpf_p2_decl20(t, a, args...) , t a ___pybpf_p2_decl18(args)
#define ___pybpf_p2_decl22(t, a, args...) , t a ___pybpf_p2_decl20(args)
#define ___pybpf_p2_decl24(t, a, args...) , t a ___pybpf_p2_decl22(args)
#define ___pybpf_p2_decl(args...) ___bpf_apply(___pybpf_p2_decl, ___pybpf_narg2(args))(args)
#define ___pybpf_p2_val0(n)
#define ___pybpf_p2_val2(n, t, a) , ___pybpf_ctx_value(t, n)
#define ___pybpf_p2_val4(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val2(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val6(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val4(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val8(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val6(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val10(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val8(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val12(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val10(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val14(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val12(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val16(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val14(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val18(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val16(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val20(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val18(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val22(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val20(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val24(n, t, a, args...) \
	, ___pybpf_ctx_value(t, n) ___pybpf_p2_val22(n + ___pybpf_words(t), args)
#define ___pybpf_p2_val(args...) ___bpf_apply(___pybpf_p2_val, ___pybpf_narg2(args))(0, ##args)

#define BPF_PROG2(name, args...)                                                        \
	name(unsigned long long *ctx);                                                  \
	static __always_inline typeof(name(0))                                          \
	____##name(unsigned long long *ctx ___pybpf_p2_decl(args));                     \
	typeof(name(0)) name(unsigned long long *ctx)                                   \
	{                                                                               \
		return ____##name(ctx ___pybpf_p2_val(args));                           \
	}                                                                               \
	static __always_inline typeof(name(0))                                          \
	____##name(unsigned long long *ctx ___pybpf_p2_decl(args))

/* ---- BPF_KPROBE / BPF_UPROBE: arguments from the probed function's registers ------------------ */
#define ___bpf_kprobe_args0() ctx
#define ___bpf_kprobe_args1(x) ___bpf_kprobe_args0(), (void *)PT_REGS_PARM1(ctx)
#define ___bpf_kprobe_args2(x, args...) ___bpf_kprobe_args1(args), (void *)PT_REGS_PARM2(ctx)
#define ___bpf_kprobe_args3(x, args...) ___bpf_kprobe_args2(args), (void *)PT_REGS_PARM3(ctx)
#define ___bpf_kprobe_args4(x, args...) ___bpf_kprobe_args3(args), (void *)PT_REGS_PARM4(ctx)
#define ___bpf_kprobe_args5(x, args...) ___bpf_kprobe_args4(args), (void *)PT_REGS_PARM5(ctx)
#define ___bpf_kprobe_args6(x, args...) ___bpf_kprobe_args5(args), (void *)PT_REGS_PARM6(ctx)
#define ___bpf_kprobe_args7(x, args...) ___bpf_kprobe_args6(args), (void *)PT_REGS_PARM7(ctx)
#define ___bpf_kprobe_args8(x, args...) ___bpf_kprobe_args7(args), (void *)PT_REGS_PARM8(ctx)
#define ___bpf_kprobe_args(args...) ___bpf_apply(___bpf_kprobe_args, ___bpf_narg(args))(args)

/* int BPF_KPROBE(name, int dfd, struct filename *name) { ... } */
#define BPF_KPROBE(name, args...) \
	___pybpf_wrap(name, struct pt_regs *ctx, ___bpf_kprobe_args(args), ##args)

/* BPF_KRETPROBE(name) or BPF_KRETPROBE(name, long ret): the probed function's return value */
#define ___bpf_kretprobe_args0() ctx
#define ___bpf_kretprobe_args1(x) ___bpf_kretprobe_args0(), (void *)PT_REGS_RC(ctx)
#define ___bpf_kretprobe_args(args...) ___bpf_apply(___bpf_kretprobe_args, ___bpf_narg(args))(args)
#define BPF_KRETPROBE(name, args...) \
	___pybpf_wrap(name, struct pt_regs *ctx, ___bpf_kretprobe_args(args), ##args)

/* uprobes see the user function's registers the same way */
#define BPF_UPROBE(name, args...) BPF_KPROBE(name, ##args)
#define BPF_URETPROBE(name, args...) BPF_KRETPROBE(name, ##args)

/* ---- BPF_KSYSCALL: a kprobe on a syscall, with the syscall's own arguments --------------------- */
/* set by the loader: 1 when syscalls go through a wrapper taking a struct pt_regs * */
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;

/* arguments read directly from `regs` (no wrapper: regs is the context) */
#define ___pybpf_syscall_args0() ctx
#define ___pybpf_syscall_args1(x) ___pybpf_syscall_args0(), (void *)PT_REGS_PARM1_SYSCALL(regs)
#define ___pybpf_syscall_args2(x, args...) \
	___pybpf_syscall_args1(args), (void *)PT_REGS_PARM2_SYSCALL(regs)
#define ___pybpf_syscall_args3(x, args...) \
	___pybpf_syscall_args2(args), (void *)PT_REGS_PARM3_SYSCALL(regs)
#define ___pybpf_syscall_args4(x, args...) \
	___pybpf_syscall_args3(args), (void *)PT_REGS_PARM4_SYSCALL(regs)
#define ___pybpf_syscall_args5(x, args...) \
	___pybpf_syscall_args4(args), (void *)PT_REGS_PARM5_SYSCALL(regs)
#define ___pybpf_syscall_args6(x, args...) \
	___pybpf_syscall_args5(args), (void *)PT_REGS_PARM6_SYSCALL(regs)
#define ___pybpf_syscall_args(args...) \
	___bpf_apply(___pybpf_syscall_args, ___bpf_narg(args))(args)
/* arguments read through probe_read_kernel from the wrapper's struct pt_regs in kernel memory */
#define ___pybpf_syswrap_args0() ctx
#define ___pybpf_syswrap_args1(x) \
	___pybpf_syswrap_args0(), (void *)PT_REGS_PARM1_CORE_SYSCALL(regs)
#define ___pybpf_syswrap_args2(x, args...) \
	___pybpf_syswrap_args1(args), (void *)PT_REGS_PARM2_CORE_SYSCALL(regs)
#define ___pybpf_syswrap_args3(x, args...) \
	___pybpf_syswrap_args2(args), (void *)PT_REGS_PARM3_CORE_SYSCALL(regs)
#define ___pybpf_syswrap_args4(x, args...) \
	___pybpf_syswrap_args3(args), (void *)PT_REGS_PARM4_CORE_SYSCALL(regs)
#define ___pybpf_syswrap_args5(x, args...) \
	___pybpf_syswrap_args4(args), (void *)PT_REGS_PARM5_CORE_SYSCALL(regs)
#define ___pybpf_syswrap_args6(x, args...) \
	___pybpf_syswrap_args5(args), (void *)PT_REGS_PARM6_CORE_SYSCALL(regs)
#define ___pybpf_syswrap_args(args...) \
	___bpf_apply(___pybpf_syswrap_args, ___bpf_narg(args))(args)

/* SEC("ksyscall/kill") int BPF_KSYSCALL(name, pid_t pid, int sig) { ... } */
#define BPF_KSYSCALL(name, args...)                                                     \
	name(struct pt_regs *ctx);                                                      \
	static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args); \
	typeof(name(0)) name(struct pt_regs *ctx)                                       \
	{                                                                               \
		struct pt_regs *regs = LINUX_HAS_SYSCALL_WRAPPER                        \
					       ? (struct pt_regs *)PT_REGS_PARM1(ctx)   \
					       : ctx;                                   \
		_Pragma("GCC diagnostic push")                                          \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")                  \
		if (LINUX_HAS_SYSCALL_WRAPPER)                                          \
			return ____##name(___pybpf_syswrap_args(args));                 \
		else                                                                    \
			return ____##name(___pybpf_syscall_args(args));                 \
		_Pragma("GCC diagnostic pop")                                           \
	}                                                                               \
	static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args)
#define BPF_KPROBE_SYSCALL BPF_KSYSCALL

#endif /* __PYBPF_BPF_TRACING_H */
