/* SPDX-License-Identifier: MIT */
/*
 * bpf_core_read.h - CO-RE ("compile once, run everywhere") reads for tracing programs (pybpf).
 * Field accesses wrapped in __builtin_preserve_access_index() are recorded by the compiler in
 * .BTF.ext as relocations, which the loader rewrites for the running kernel's layouts.
 *
 *   pid_t ppid = BPF_CORE_READ(task, real_parent, tgid);   // task->real_parent->tgid
 */
#ifndef __PYBPF_BPF_CORE_READ_H
#define __PYBPF_BPF_CORE_READ_H

#include "bpf_helpers.h"

/* enum bpf_field_info_kind: what __builtin_preserve_field_info() asks the loader for */
enum bpf_field_info_kind {
	BPF_FIELD_BYTE_OFFSET = 0,
	BPF_FIELD_BYTE_SIZE = 1,
	BPF_FIELD_EXISTS = 2,
	BPF_FIELD_SIGNED = 3,
	BPF_FIELD_LSHIFT_U64 = 4,
	BPF_FIELD_RSHIFT_U64 = 5,
};
/* enum bpf_type_id_kind and bpf_type_info_kind */
enum bpf_type_id_kind {
	BPF_TYPE_ID_LOCAL = 0,
	BPF_TYPE_ID_TARGET = 1,
};
enum bpf_type_info_kind {
	BPF_TYPE_EXISTS = 0,
	BPF_TYPE_SIZE = 1,
	BPF_TYPE_MATCHES = 2,
};
enum bpf_enum_value_kind {
	BPF_ENUMVAL_EXISTS = 0,
	BPF_ENUMVAL_VALUE = 1,
};

/* Mark a struct definition so every access to its fields is relocatable. */
#define __pybpf_preserve_access_index __attribute__((preserve_access_index))

/* Field relocations: does `s->field` exist, where is it, how big is it, in the target kernel? */
#define bpf_core_field_exists(field) __builtin_preserve_field_info(field, BPF_FIELD_EXISTS)
#define bpf_core_field_size(field) __builtin_preserve_field_info(field, BPF_FIELD_BYTE_SIZE)
#define bpf_core_field_offset(field) __builtin_preserve_field_info(field, BPF_FIELD_BYTE_OFFSET)
/* Type relocations on a type name: bpf_core_type_exists(struct task_struct) */
#define bpf_core_type_exists(type) __builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_EXISTS)
#define bpf_core_type_size(type) __builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_SIZE)
#define bpf_core_type_id_local(type) __builtin_btf_type_id(*(typeof(type) *)0, BPF_TYPE_ID_LOCAL)
#define bpf_core_type_id_kernel(type) __builtin_btf_type_id(*(typeof(type) *)0, BPF_TYPE_ID_TARGET)

/* Read `sz` bytes at the relocated address `src` into `dst` (kernel memory). */
#define bpf_core_read(dst, sz, src) \
	bpf_probe_read_kernel(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_user(dst, sz, src) \
	bpf_probe_read_user(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_str(dst, sz, src) \
	bpf_probe_read_kernel_str(dst, sz, (const void *)__builtin_preserve_access_index(src))

/* BPF_CORE_READ_INTO(&dst, src, field): dst = src->field, relocated. */
#define BPF_CORE_READ_INTO(dst, src, field) bpf_core_read((dst), sizeof(*(dst)), &(src)->field)

/* One hop of a chain: the value of src->a, read through bpf_probe_read_kernel. */
#define ___pybpf_core_get(src, a)                                       \
	({                                                                  \
		__auto_type ___s = (src);                                       \
		typeof(___s->a) ___v;                                           \
		bpf_core_read(&___v, sizeof(___v), &___s->a);                   \
		___v;                                                           \
	})
#define ___pybpf_core_read1(s, a) ___pybpf_core_get(s, a)
#define ___pybpf_core_read2(s, a, b) ___pybpf_core_get(___pybpf_core_get(s, a), b)
#define ___pybpf_core_read3(s, a, b, c) ___pybpf_core_get(___pybpf_core_read2(s, a, b), c)
#define ___pybpf_core_read4(s, a, b, c, d) ___pybpf_core_get(___pybpf_core_read3(s, a, b, c), d)
#define ___pybpf_core_read5(s, a, b, c, d, e) \
	___pybpf_core_get(___pybpf_core_read4(s, a, b, c, d), e)
#define ___pybpf_core_read6(s, a, b, c, d, e, f) \
	___pybpf_core_get(___pybpf_core_read5(s, a, b, c, d, e), f)
#define ___pybpf_core_nth(_1, _2, _3, _4, _5, _6, N, ...) N
#define ___pybpf_core_cat(a, b) a##b
#define ___pybpf_core_pick(n) ___pybpf_core_cat(___pybpf_core_read, n)

/* BPF_CORE_READ(src, a, b, ...): src->a->b->..., each hop a relocated kernel read (1..6 hops). */
#define BPF_CORE_READ(src, ...) \
	___pybpf_core_pick(___pybpf_core_nth(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0))(src, __VA_ARGS__)

#endif /* __PYBPF_BPF_CORE_READ_H */
