/* SPDX-License-Identifier: MIT */
/*
 * bpf_helpers.h - pybpf's header for writing eBPF programs in C: section and BTF map
 * definition macros, attributes, every helper (bpf_helper_defs.h) and the kernel ABI types,
 * constants and context structs (bpf_uapi.h). Written for pybpf from the documented ABI.
 *
 *   #include <bpf_helpers.h>
 *   struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
 *            __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
 *   SEC("xdp") int prog(struct xdp_md *ctx) { return XDP_PASS; }
 *   BPF_LICENSE("GPL");
 */
#ifndef __PYBPF_BPF_HELPERS_H
#define __PYBPF_BPF_HELPERS_H

#include "bpf_uapi.h"
#include "bpf_helper_defs.h"

/* Put a program, a map or data into an ELF section; loaders read the program type from it. */
#define SEC(name) __attribute__((section(name), used))

/*
 * BTF-defined maps: each attribute becomes a member whose *type* carries the value, so the
 * object's BTF describes the map (type, sizes, max_entries, flags, pinning, inner map).
 */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
#define ___pybpf_concat(a, b) a##b
#define ___pybpf_apply(a, b) ___pybpf_concat(a, b)
#define __ulong(name, val) enum { ___pybpf_apply(__pybpf_unique_, __COUNTER__) = (val) } name

/* The license section the kernel checks for GPL-only helpers. */
#define BPF_LICENSE(text) char __pybpf_license[] SEC("license") = text
#define LICENSE(text) BPF_LICENSE(text)

/* Attributes. */
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
/* Kernel symbols and kconfig values resolved by the loader (extern variables). */
#define __ksym __attribute__((section(".ksyms")))
#define __kconfig __attribute__((section(".kconfig")))
#define __kptr __attribute__((btf_type_tag("kptr")))
#define __percpu_kptr __attribute__((btf_type_tag("percpu_kptr")))

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

/* Mark code the verifier must never reach (the compiler may then drop the path). */
#define __pybpf_unreachable() __builtin_unreachable()

/*
 * bpf_printk("fmt", args...): bpf_trace_printk with its format string kept in .rodata.
 * Up to three arguments, as the helper allows.
 */
#define bpf_printk(fmt, ...)                                              \
	({                                                                    \
		static const char ____pybpf_fmt[] = fmt;                          \
		bpf_trace_printk(____pybpf_fmt, sizeof(____pybpf_fmt), ##__VA_ARGS__); \
	})

/* Hint a loop's trip count to the compiler (the verifier still proves the bound). */
#define bpf_for_range(i, start, end) for ((i) = (start); (i) < (end); (i)++)

#endif /* __PYBPF_BPF_HELPERS_H */
