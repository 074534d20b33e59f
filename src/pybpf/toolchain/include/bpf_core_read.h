/* SPDX-License-Identifier: MIT */
/*
 * bpf_core_read.h - CO-RE ("compile once, run everywhere") reads for tracing programs (pybpf).
 * Field accesses wrapped in __builtin_preserve_access_index() are recorded by the compiler in
 * .BTF.ext as relocations, which the loader rewrites for the running kernel's layouts; the
 * bpf_core_*() queries become constants the loader fills in (field exists? type size? enum value?).
 * Source-compatible with libbpf's <bpf/bpf_core_read.h>.
 *
 *   pid_t ppid = BPF_CORE_READ(task, real_parent, tgid);   // task->real_parent->tgid
 *   if (bpf_core_field_exists(struct task_struct, __state)) ...
 */
#ifndef __PYBPF_BPF_CORE_READ_H
#define __PYBPF_BPF_CORE_READ_H

#include "bpf_helpers.h"

/* What __builtin_preserve_field_info() asks the loader for. */
enum bpf_field_info_kind {
	BPF_FIELD_BYTE_OFFSET = 0,
	BPF_FIELD_BYTE_SIZE = 1,
	BPF_FIELD_EXISTS = 2,
	BPF_FIELD_SIGNED = 3,
	BPF_FIELD_LSHIFT_U64 = 4,
	BPF_FIELD_RSHIFT_U64 = 5,
};
/* __builtin_btf_type_id(): the type's id in the program's own BTF or in the kernel's. */
enum bpf_type_id_kind {
	BPF_TYPE_ID_LOCAL = 0,
	BPF_TYPE_ID_TARGET = 1,
};
/* __builtin_preserve_type_info() */
enum bpf_type_info_kind {
	BPF_TYPE_EXISTS = 0,
	BPF_TYPE_SIZE = 1,
	BPF_TYPE_MATCHES = 2,
};
/* __builtin_preserve_enum_value() */
enum bpf_enum_value_kind {
	BPF_ENUMVAL_EXISTS = 0,
	BPF_ENUMVAL_VALUE = 1,
};

/* A field relocation of kind `info` on src->field. */
#define __CORE_RELO(src, field, info) \
	__builtin_preserve_field_info((src)->field, BPF_FIELD_##info)

/* ---- bitfields -------------------------------------------------------------------------------- */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* the field's bytes land in the low end of the u64 */
#define __CORE_BITFIELD_PROBE_READ(dst, src, fld)                                  \
	bpf_probe_read_kernel((void *)(dst), __CORE_RELO(src, fld, BYTE_SIZE),     \
			      (const void *)(src) + __CORE_RELO(src, fld, BYTE_OFFSET))
#else
/* big-endian: the field's bytes land in the high end of the u64 */
#define __CORE_BITFIELD_PROBE_READ(dst, src, fld)                                  \
	bpf_probe_read_kernel((void *)(dst) + (8 - __CORE_RELO(src, fld, BYTE_SIZE)), \
			      __CORE_RELO(src, fld, BYTE_SIZE),                     \
			      (const void *)(src) + __CORE_RELO(src, fld, BYTE_OFFSET))
#endif

/* shift the loaded bytes so the field ends at bit 63, then back down, sign-extending if signed */
#define ___pybpf_bitfield_extract(val, s, field)                                   \
	({                                                                         \
		(val) <<= __CORE_RELO(s, field, LSHIFT_U64);                       \
		if (__CORE_RELO(s, field, SIGNED))                                 \
			(val) = ((long long)(val)) >> __CORE_RELO(s, field, RSHIFT_U64); \
		else                                                               \
			(val) = (val) >> __CORE_RELO(s, field, RSHIFT_U64);        \
		(val);                                                             \
	})

/* BPF_CORE_READ_BITFIELD_PROBED(s, field): a relocated bitfield read through probe_read_kernel. */
#define BPF_CORE_READ_BITFIELD_PROBED(s, field)                                    \
	({                                                                         \
		unsigned long long ___val = 0;                                     \
		__CORE_BITFIELD_PROBE_READ(&___val, s, field);                     \
		___pybpf_bitfield_extract(___val, s, field);                       \
	})

/* BPF_CORE_READ_BITFIELD(s, field): the same by direct load (s is a BTF-typed pointer). */
#define BPF_CORE_READ_BITFIELD(s, field)                                           \
	({                                                                         \
		const void *___p = (const void *)(s) + __CORE_RELO(s, field, BYTE_OFFSET); \
		unsigned long long ___val;                                         \
		/* hide the pointer's origin so each load keeps its own size */    \
		__asm__ __volatile__("" : "=r"(___p) : "0"(___p));                  \
		switch (__CORE_RELO(s, field, BYTE_SIZE)) {                        \
		case 1: ___val = *(const unsigned char *)___p; break;              \
		case 2: ___val = *(const unsigned short *)___p; break;             \
		case 4: ___val = *(const unsigned int *)___p; break;               \
		case 8: ___val = *(const unsigned long long *)___p; break;         \
		default: ___val = 0; break;                                        \
		}                                                                  \
		___pybpf_bitfield_extract(___val, s, field);                       \
	})

/* BPF_CORE_WRITE_BITFIELD(s, field, v): store v into the relocated bitfield (read-modify-write). */
#define BPF_CORE_WRITE_BITFIELD(s, field, new_val)                                 \
	({                                                                         \
		void *___p = (void *)(s) + __CORE_RELO(s, field, BYTE_OFFSET);     \
		unsigned int ___byte_size = __CORE_RELO(s, field, BYTE_SIZE);      \
		unsigned int ___lshift = __CORE_RELO(s, field, LSHIFT_U64);        \
		unsigned int ___rshift = __CORE_RELO(s, field, RSHIFT_U64);        \
		unsigned long long ___mask, ___val, ___nval = (new_val);           \
		/* the field is the (64 - rshift) bits starting at bit (rshift - lshift) */ \
		unsigned int ___low = ___rshift - ___lshift;                       \
		__asm__ __volatile__("" : "+r"(___p));                              \
		switch (___byte_size) {                                            \
		case 1: ___val = *(unsigned char *)___p; break;                    \
		case 2: ___val = *(unsigned short *)___p; break;                   \
		case 4: ___val = *(unsigned int *)___p; break;                     \
		case 8: ___val = *(unsigned long long *)___p; break;               \
		default: ___val = 0; break;                                        \
		}                                                                  \
		___mask = (~0ULL >> ___rshift) << ___low;                          \
		___val = (___val & ~___mask) | ((___nval << ___low) & ___mask);    \
		switch (___byte_size) {                                            \
		case 1: *(unsigned char *)___p = ___val; break;                    \
		case 2: *(unsigned short *)___p = ___val; break;                   \
		case 4: *(unsigned int *)___p = ___val; break;                     \
		case 8: *(unsigned long long *)___p = ___val; break;               \
		}                                                                  \
	})

/* ---- field, type and enum relocations ------------------------------------------------------- */
/* a field given as `expr->field` (one argument) or as `type, field` (two) */
#define ___bpf_field_ref1(field) (field)
#define ___bpf_field_ref2(type, field) (((typeof(type) *)0)->field)
#define ___bpf_field_ref(args...) ___bpf_apply(___bpf_field_ref, ___bpf_narg(args))(args)

/* bpf_core_field_exists(s->f) or (struct S, f): 1 if the running kernel's type has the field. */
#define bpf_core_field_exists(field...) \
	__builtin_preserve_field_info(___bpf_field_ref(field), BPF_FIELD_EXISTS)
/* bpf_core_field_size(...): the field's size in bytes in the running kernel. */
#define bpf_core_field_size(field...) \
	__builtin_preserve_field_info(___bpf_field_ref(field), BPF_FIELD_BYTE_SIZE)
/* bpf_core_field_offset(...): the field's byte offset in the running kernel. */
#define bpf_core_field_offset(field...) \
	__builtin_preserve_field_info(___bpf_field_ref(field), BPF_FIELD_BYTE_OFFSET)

/* bpf_core_type_id_local(struct S) / _kernel(struct S): the type's BTF id here / in the kernel. */
#define bpf_core_type_id_local(type) __builtin_btf_type_id(*(typeof(type) *)0, BPF_TYPE_ID_LOCAL)
#define bpf_core_type_id_kernel(type) __builtin_btf_type_id(*(typeof(type) *)0, BPF_TYPE_ID_TARGET)
/* bpf_core_type_exists(struct S): 1 if the kernel has a compatible type of that name. */
#define bpf_core_type_exists(type) __builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_EXISTS)
/* bpf_core_type_matches(struct S): 1 if the kernel's type matches this one's shape exactly. */
#define bpf_core_type_matches(type) __builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_MATCHES)
/* bpf_core_type_size(struct S): the type's size in the running kernel. */
#define bpf_core_type_size(type) __builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_SIZE)

/* bpf_core_enum_value_exists(enum E, VALUE): 1 if the kernel's enum has the enumerator. */
#define bpf_core_enum_value_exists(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_EXISTS)
/* bpf_core_enum_value(enum E, VALUE): the enumerator's value in the running kernel. */
#define bpf_core_enum_value(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_VALUE)

/* ---- reads ------------------------------------------------------------------------------------- */
/* Read `sz` bytes at the relocated address `src` into `dst` (kernel or user memory, or a string). */
#define bpf_core_read(dst, sz, src) \
	bpf_probe_read_kernel(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_user(dst, sz, src) \
	bpf_probe_read_user(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_str(dst, sz, src) \
	bpf_probe_read_kernel_str(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define bpf_core_read_user_str(dst, sz, src) \
	bpf_probe_read_user_str(dst, sz, (const void *)__builtin_preserve_access_index(src))

/* the same without relocation (plain probe reads at compile-time offsets) */
#define ___pybpf_probe_read(dst, sz, src) bpf_probe_read_kernel(dst, sz, (const void *)(src))
#define ___pybpf_probe_read_user(dst, sz, src) bpf_probe_read_user(dst, sz, (const void *)(src))
#define ___pybpf_probe_read_str(dst, sz, src) bpf_probe_read_kernel_str(dst, sz, (const void *)(src))
#define ___pybpf_probe_read_user_str(dst, sz, src) \
	bpf_probe_read_user_str(dst, sz, (const void *)(src))

/*
 * A chain src->a->b->c is read hop by hop: each intermediate pointer is itself read with the
 * hop reader `rd` (kernel or user memory), and the last member with `last` into `dst`.
 * ___pybpf_hop(rd, p, a) is the value of p->a.
 */
#define ___pybpf_hop(rd, p, a)                                                   \
	({                                                                       \
		__auto_type ___hp = (p);                                         \
		typeof(___hp->a) ___hv;                                          \
		rd((void *)&___hv, sizeof(___hv), &___hp->a);                    \
		___hv;                                                           \
	})
/* ___pybpf_base<n>(rd, src, m1, ..., m_{n-1}, last): the pointer holding `last` */
#define ___pybpf_base1(rd, s, x) (s)
#define ___pybpf_base2(rd, s, a, x) ___pybpf_hop(rd, s, a)
#define ___pybpf_base3(rd, s, a, b, x) ___pybpf_hop(rd, ___pybpf_base2(rd, s, a, b), b)
#define ___pybpf_base4(rd, s, a, b, c, x) ___pybpf_hop(rd, ___pybpf_base3(rd, s, a, b, c), c)
#define ___pybpf_base5(rd, s, a, b, c, d, x) \
	___pybpf_hop(rd, ___pybpf_base4(rd, s, a, b, c, d), d)
#define ___pybpf_base6(rd, s, a, b, c, d, e, x) \
	___pybpf_hop(rd, ___pybpf_base5(rd, s, a, b, c, d, e), e)
#define ___pybpf_base7(rd, s, a, b, c, d, e, f, x) \
	___pybpf_hop(rd, ___pybpf_base6(rd, s, a, b, c, d, e, f), f)
#define ___pybpf_base8(rd, s, a, b, c, d, e, f, g, x) \
	___pybpf_hop(rd, ___pybpf_base7(rd, s, a, b, c, d, e, f, g), g)
#define ___pybpf_base9(rd, s, a, b, c, d, e, f, g, h, x) \
	___pybpf_hop(rd, ___pybpf_base8(rd, s, a, b, c, d, e, f, g, h), h)
#define ___pybpf_base10(rd, s, a, b, c, d, e, f, g, h, i, x) \
	___pybpf_hop(rd, ___pybpf_base9(rd, s, a, b, c, d, e, f, g, h, i), i)
/* the last accessor of a list */
#define ___pybpf_last1(x) x
#define ___pybpf_last2(a, x) x
#define ___pybpf_last3(a, b, x) x
#define ___pybpf_last4(a, b, c, x) x
#define ___pybpf_last5(a, b, c, d, x) x
#define ___pybpf_last6(a, b, c, d, e, x) x
#define ___pybpf_last7(a, b, c, d, e, f, x) x
#define ___pybpf_last8(a, b, c, d, e, f, g, x) x
#define ___pybpf_last9(a, b, c, d, e, f, g, h, x) x
#define ___pybpf_last10(a, b, c, d, e, f, g, h, i, x) x
#define ___pybpf_last(args...) ___bpf_apply(___pybpf_last, ___bpf_narg(args))(args)
#define ___pybpf_base(rd, src, args...) \
	___bpf_apply(___pybpf_base, ___bpf_narg(args))(rd, src, args)

/* *dst = src->a->...->last, sized by *dst; intermediate hops read with `rd`, the last with `fin` */
#define ___pybpf_read_into(fin, rd, dst, src, a, ...)                               \
	({                                                                          \
		__auto_type ___bp = ___pybpf_base(rd, src, a, ##__VA_ARGS__);       \
		fin((void *)(dst), sizeof(*(dst)), &___bp->___pybpf_last(a, ##__VA_ARGS__)); \
	})

/* the value src->a->...->last */
#define ___pybpf_read_value(rd, src, a, ...)                                        \
	({                                                                          \
		__auto_type ___bp = ___pybpf_base(rd, src, a, ##__VA_ARGS__);       \
		___pybpf_hop(rd, ___bp, ___pybpf_last(a, ##__VA_ARGS__));           \
	})

/* BPF_CORE_READ_INTO(&dst, src, a, b, ...): dst = src->a->b->..., every hop relocated. */
#define BPF_CORE_READ_INTO(dst, src, a, ...) \
	___pybpf_read_into(bpf_core_read, bpf_core_read, dst, src, a, ##__VA_ARGS__)
/* ... from user memory */
#define BPF_CORE_READ_USER_INTO(dst, src, a, ...) \
	___pybpf_read_into(bpf_core_read_user, bpf_core_read_user, dst, src, a, ##__VA_ARGS__)
/* ... without relocations */
#define BPF_PROBE_READ_INTO(dst, src, a, ...) \
	___pybpf_read_into(___pybpf_probe_read, ___pybpf_probe_read, dst, src, a, ##__VA_ARGS__)
#define BPF_PROBE_READ_USER_INTO(dst, src, a, ...)                                  \
	___pybpf_read_into(___pybpf_probe_read_user, ___pybpf_probe_read_user, dst, src, a, \
			   ##__VA_ARGS__)

/* BPF_CORE_READ_STR_INTO(&buf, src, a, ...): the string src->a->... into the char array buf. */
#define BPF_CORE_READ_STR_INTO(dst, src, a, ...) \
	___pybpf_read_into(bpf_core_read_str, bpf_core_read, dst, src, a, ##__VA_ARGS__)
#define BPF_CORE_READ_USER_STR_INTO(dst, src, a, ...) \
	___pybpf_read_into(bpf_core_read_user_str, bpf_core_read_user, dst, src, a, ##__VA_ARGS__)
#define BPF_PROBE_READ_STR_INTO(dst, src, a, ...) \
	___pybpf_read_into(___pybpf_probe_read_str, ___pybpf_probe_read, dst, src, a, ##__VA_ARGS__)
#define BPF_PROBE_READ_USER_STR_INTO(dst, src, a, ...)                              \
	___pybpf_read_into(___pybpf_probe_read_user_str, ___pybpf_probe_read_user, dst, src, a, \
			   ##__VA_ARGS__)

/* BPF_CORE_READ(src, a, b, ...): the value src->a->b->... (1 to 10 members), relocated. */
#define BPF_CORE_READ(src, a, ...) ___pybpf_read_value(bpf_core_read, src, a, ##__VA_ARGS__)
#define BPF_CORE_READ_USER(src, a, ...) \
	___pybpf_read_value(bpf_core_read_user, src, a, ##__VA_ARGS__)
#define BPF_PROBE_READ(src, a, ...) ___pybpf_read_value(___pybpf_probe_read, src, a, ##__VA_ARGS__)
#define BPF_PROBE_READ_USER(src, a, ...) \
	___pybpf_read_value(___pybpf_probe_read_user, src, a, ##__VA_ARGS__)

/* ---- casts ------------------------------------------------------------------------------------- */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* bpf_core_cast(ptr, struct S): ptr as a read-only BTF pointer to the kernel's struct S. */
#define bpf_core_cast(ptr, type) \
	((typeof(type) *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))

#endif /* __PYBPF_BPF_CORE_READ_H */
