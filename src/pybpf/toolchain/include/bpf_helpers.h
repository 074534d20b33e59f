/* SPDX-License-Identifier: MIT */
/*
 * bpf_helpers.h - pybpf's header for writing eBPF programs in C: section and BTF map
 * definition macros, attributes, every helper (bpf_helper_defs.h), the kernel ABI types,
 * constants and context structs (bpf_uapi.h), printk/seq_printf/snprintf wrappers, open-coded
 * iterators, and the __ksym/__kconfig externs a loader resolves. Written for pybpf from the
 * documented ABI; source-compatible with programs written against libbpf's <bpf/bpf_helpers.h>.
 *
 *   #include <bpf_helpers.h>
 *   struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
 *            __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
 *   SEC("xdp") int prog(struct xdp_md *ctx) { return XDP_PASS; }
 *   char LICENSE[] SEC("license") = "GPL";
 */
#ifndef __PYBPF_BPF_HELPERS_H
#define __PYBPF_BPF_HELPERS_H

#include "bpf_uapi.h"
#include "bpf_helper_defs.h"

/* ---- macro plumbing: pasting, argument counting, filling arrays ---------------------------- */
#define ___bpf_concat(a, b) a##b
#define ___bpf_apply(fn, n) ___bpf_concat(fn, n)
#define ___bpf_nth(_, _1, _2, _3, _4, _5, _6, _7, _8, _9, _a, _b, _c, N, ...) N
/* how many arguments (0..12) */
#define ___bpf_narg(...) ___bpf_nth(_, ##__VA_ARGS__, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
/* arr[0..n-1] = the arguments, each as an unsigned long long */
#define ___bpf_fill0(arr, p, x) do {} while (0)
#define ___bpf_fill1(arr, p, x) arr[p] = x
#define ___bpf_fill2(arr, p, x, args...) arr[p] = x; ___bpf_fill1(arr, p + 1, args)
#define ___bpf_fill3(arr, p, x, args...) arr[p] = x; ___bpf_fill2(arr, p + 1, args)
#define ___bpf_fill4(arr, p, x, args...) arr[p] = x; ___bpf_fill3(arr, p + 1, args)
#define ___bpf_fill5(arr, p, x, args...) arr[p] = x; ___bpf_fill4(arr, p + 1, args)
#define ___bpf_fill6(arr, p, x, args...) arr[p] = x; ___bpf_fill5(arr, p + 1, args)
#define ___bpf_fill7(arr, p, x, args...) arr[p] = x; ___bpf_fill6(arr, p + 1, args)
#define ___bpf_fill8(arr, p, x, args...) arr[p] = x; ___bpf_fill7(arr, p + 1, args)
#define ___bpf_fill9(arr, p, x, args...) arr[p] = x; ___bpf_fill8(arr, p + 1, args)
#define ___bpf_fill10(arr, p, x, args...) arr[p] = x; ___bpf_fill9(arr, p + 1, args)
#define ___bpf_fill11(arr, p, x, args...) arr[p] = x; ___bpf_fill10(arr, p + 1, args)
#define ___bpf_fill12(arr, p, x, args...) arr[p] = x; ___bpf_fill11(arr, p + 1, args)
#define ___bpf_fill(arr, args...) ___bpf_apply(___bpf_fill, ___bpf_narg(args))(arr, 0, args)

/* Put a program, a map or data into an ELF section; loaders read the program type from it. */
#define SEC(name) __attribute__((section(name), used))

/*
 * BTF-defined maps: each attribute becomes a member whose *type* carries the value, so the
 * object's BTF describes the map (type, sizes, max_entries, flags, pinning, inner map).
 */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
#define __ulong(name, val) enum { ___bpf_apply(__pybpf_ulong_, __COUNTER__) = (val) } name

/* The `pinning` attribute of a BTF-defined map. */
enum libbpf_pin_type {
	LIBBPF_PIN_NONE = 0,
	LIBBPF_PIN_BY_NAME = 1, /* pinned as <pin root>/<map name> */
};

/* The value a tristate `extern enum libbpf_tristate CONFIG_X __kconfig;` takes. */
enum libbpf_tristate {
	TRI_NO = 0,
	TRI_YES = 1,
	TRI_MODULE = 2,
};

/* The license section the kernel checks for GPL-only helpers. */
#define BPF_LICENSE(text) char __pybpf_license[] SEC("license") = text
#define LICENSE(text) BPF_LICENSE(text)

/* ---- attributes ----------------------------------------------------------------------------- */
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif
#ifndef __hidden
#define __hidden __attribute__((visibility("hidden")))
#endif
#ifndef __section
#define __section(name) SEC(name)
#endif
/* A global variable in its own data section .data.NAME (its own map), aligned for locks. */
#define private(name) SEC(".data." #name) __hidden __attribute__((aligned(8)))

/* Kernel symbols and kconfig values resolved by the loader (extern variables and kfuncs). */
#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif
#ifndef __kconfig
#define __kconfig __attribute__((section(".kconfig")))
#endif
/* Pointer kinds the kernel tracks in map values (BTF type tags). */
#define __kptr_untrusted __attribute__((btf_type_tag("kptr_untrusted")))
#define __kptr __attribute__((btf_type_tag("kptr")))
#define __percpu_kptr __attribute__((btf_type_tag("percpu_kptr")))
#define __uptr __attribute__((btf_type_tag("uptr")))
/* What a bpf_list_head / bpf_rb_root holds: the struct and its node member. */
#define __contains(name, node) __attribute__((btf_decl_tag("contains:" #name ":" #node)))
/* Argument annotations of global functions (BTF declaration tags the verifier reads). */
#define __arg_ctx __attribute__((btf_decl_tag("arg:ctx")))
#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))
#define __arg_nullable __attribute__((btf_decl_tag("arg:nullable")))
#define __arg_trusted __attribute__((btf_decl_tag("arg:trusted")))
#define __arg_untrusted __attribute__((btf_decl_tag("arg:untrusted")))
#define __arg_arena __attribute__((btf_decl_tag("arg:arena")))
/* Helpers and kfuncs that keep caller-saved registers the callee does not use. */
#ifndef __bpf_fastcall
#if __has_attribute(bpf_fastcall)
#define __bpf_fastcall __attribute__((bpf_fastcall))
#else
#define __bpf_fastcall
#endif
#endif

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* Compiler barriers: keep the verifier-visible order of checks and accesses. */
#ifndef barrier
#define barrier() __asm__ __volatile__("" ::: "memory")
#endif
/* Make the compiler forget what it knows about `var` (e.g. bounds it would otherwise merge). */
#ifndef barrier_var
#define barrier_var(var) __asm__ __volatile__("" : "+r"(var))
#endif

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((void *)(ptr) - __builtin_offsetof(type, member)))
#endif

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* KERNEL_VERSION(6, 1, 0): the number LINUX_KERNEL_VERSION compares with (patch capped at 255). */
#ifndef KERNEL_VERSION
#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))
#endif

/* A path that must never run: trap if it does (the compiler drops it where it is dead). */
#define __bpf_unreachable() __builtin_trap()
#define __pybpf_unreachable() __builtin_unreachable()

/*
 * bpf_tail_call_static(ctx, map, slot): a tail call whose slot is a compile-time constant, kept
 * in a register load the kernel can see (so it can patch the call into a direct jump).
 */
static __always_inline void bpf_tail_call_static(void *ctx, const void *map, const __u32 slot)
{
	if (!__builtin_constant_p(slot))
		__bpf_unreachable();
	__asm__ __volatile__("r1 = %[ctx]\n\t"
			     "r2 = %[map]\n\t"
			     "r3 = %[slot]\n\t"
			     "call 12"
			     :: [ctx] "r"(ctx), [map] "r"(map), [slot] "i"(slot)
			     : "r0", "r1", "r2", "r3", "r4", "r5");
}

/*
 * bpf_ksym_exists(sym): 1 when the loader resolved the __weak __ksym (a kfunc or kernel
 * variable) in the running kernel, 0 when the kernel lacks it. The symbol must be weak.
 */
#define bpf_ksym_exists(sym)                                                              \
	({                                                                                \
		_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
		!!sym;                                                                    \
	})

/* ---- formatted output ------------------------------------------------------------------------ */
/* Format strings live in .rodata unless the program must do without global data. */
#ifdef BPF_NO_GLOBAL_DATA
#define __PYBPF_FMT_STORAGE
#else
#define __PYBPF_FMT_STORAGE static const
#endif

/* up to three arguments: bpf_trace_printk */
#define __bpf_printk(fmt, ...)                                                  \
	({                                                                      \
		__PYBPF_FMT_STORAGE char ____fmt[] = fmt;                       \
		bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__);      \
	})

/* more: bpf_trace_vprintk with the arguments in an array of u64 */
#define __bpf_vprintk(fmt, args...)                                                     \
	({                                                                              \
		static const char ___fmt[] = fmt;                                       \
		unsigned long long ___param[___bpf_narg(args)];                         \
		_Pragma("GCC diagnostic push")                                          \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")                  \
		___bpf_fill(___param, args);                                            \
		_Pragma("GCC diagnostic pop")                                           \
		bpf_trace_vprintk(___fmt, sizeof(___fmt), ___param, sizeof(___param));  \
	})

#define ___bpf_pick_printk(...)                                                           \
	___bpf_nth(_, ##__VA_ARGS__, __bpf_vprintk, __bpf_vprintk, __bpf_vprintk,         \
		   __bpf_vprintk, __bpf_vprintk, __bpf_vprintk, __bpf_vprintk,            \
		   __bpf_vprintk, __bpf_vprintk, __bpf_printk, __bpf_printk,              \
		   __bpf_printk, __bpf_printk)

/* bpf_printk("fmt", args...): a line in /sys/kernel/tracing/trace_pipe (0..12 arguments). */
#define bpf_printk(fmt, args...) ___bpf_pick_printk(args)(fmt, ##args)

/* BPF_SEQ_PRINTF(seq, "fmt", args...): print into a bpf_iter's seq_file. */
#define BPF_SEQ_PRINTF(seq, fmt, args...)                                               \
	({                                                                              \
		static const char ___fmt[] = fmt;                                       \
		unsigned long long ___param[___bpf_narg(args)];                         \
		_Pragma("GCC diagnostic push")                                          \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")                  \
		___bpf_fill(___param, args);                                            \
		_Pragma("GCC diagnostic pop")                                           \
		bpf_seq_printf(seq, ___fmt, sizeof(___fmt), ___param, sizeof(___param)); \
	})

/* BPF_SNPRINTF(out, size, "fmt", args...): format into a buffer; returns the length needed. */
#define BPF_SNPRINTF(out, out_size, fmt, args...)                                       \
	({                                                                              \
		static const char ___fmt[] = fmt;                                       \
		unsigned long long ___param[___bpf_narg(args)];                         \
		_Pragma("GCC diagnostic push")                                          \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")                  \
		___bpf_fill(___param, args);                                            \
		_Pragma("GCC diagnostic pop")                                           \
		bpf_snprintf(out, out_size, ___fmt, ___param, sizeof(___param));        \
	})

/* ---- open-coded iterators (kfuncs) ------------------------------------------------------------ */
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __weak __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __weak __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __weak __ksym;

/*
 * bpf_for_each(type, cur, args...): for every element an iterator of kind `type` yields
 * (bpf_iter_<type>_new(&it, args...), then _next until NULL); _destroy runs on every exit.
 */
#ifndef bpf_for_each
#define bpf_for_each(type, cur, args...)                                                  \
	for (struct bpf_iter_##type ___it __attribute__((aligned(8),                      \
							 cleanup(bpf_iter_##type##_destroy))), \
	     *___p __attribute__((unused)) = (bpf_iter_##type##_new(&___it, ##args),      \
					      (void)bpf_iter_##type##_destroy, (void *)0); \
	     ((cur) = bpf_iter_##type##_next(&___it));)
#endif

/* bpf_for(i, start, end): i = start .. end-1, a loop the verifier bounds through the iterator. */
#ifndef bpf_for
#define bpf_for(i, start, end)                                                            \
	for (struct bpf_iter_num ___it __attribute__((aligned(8),                         \
						      cleanup(bpf_iter_num_destroy))),    \
	     *___p __attribute__((unused)) = (bpf_iter_num_new(&___it, (start), (end)),   \
					      (void)bpf_iter_num_destroy, (void *)0);      \
	     ({                                                                           \
		     int *___t = bpf_iter_num_next(&___it);                               \
		     (___t && ((i) = *___t, (i) >= (start) && (i) < (end)));              \
	     });)
#endif

/* bpf_repeat(n): run the body n times. */
#ifndef bpf_repeat
#define bpf_repeat(N)                                                                     \
	for (struct bpf_iter_num ___it __attribute__((aligned(8),                         \
						      cleanup(bpf_iter_num_destroy))),    \
	     *___p __attribute__((unused)) = (bpf_iter_num_new(&___it, 0, (N)),           \
					      (void)bpf_iter_num_destroy, (void *)0);      \
	     bpf_iter_num_next(&___it);)
#endif

/* Hint a loop's trip count to the compiler (the verifier still proves the bound). */
#define bpf_for_range(i, start, end) for ((i) = (start); (i) < (end); (i)++)

#endif /* __PYBPF_BPF_HELPERS_H */
