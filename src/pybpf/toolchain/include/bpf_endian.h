/* SPDX-License-Identifier: MIT */
/*
 * bpf_endian.h - byte order conversion for eBPF programs (pybpf). On the little-endian BPF
 * target the conversions are byte swaps; the compiler turns them into BPF_END instructions,
 * and constant arguments are folded at compile time.
 */
#ifndef __PYBPF_BPF_ENDIAN_H
#define __PYBPF_BPF_ENDIAN_H

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define __pybpf_cpu_to_be16(x) __builtin_bswap16(x)
#define __pybpf_cpu_to_be32(x) __builtin_bswap32(x)
#define __pybpf_cpu_to_be64(x) __builtin_bswap64(x)
#define __pybpf_cpu_to_le16(x) ((__u16)(x))
#define __pybpf_cpu_to_le32(x) ((__u32)(x))
#define __pybpf_cpu_to_le64(x) ((__u64)(x))
#elif __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define __pybpf_cpu_to_be16(x) ((__u16)(x))
#define __pybpf_cpu_to_be32(x) ((__u32)(x))
#define __pybpf_cpu_to_be64(x) ((__u64)(x))
#define __pybpf_cpu_to_le16(x) __builtin_bswap16(x)
#define __pybpf_cpu_to_le32(x) __builtin_bswap32(x)
#define __pybpf_cpu_to_le64(x) __builtin_bswap64(x)
#else
#error "unknown byte order"
#endif

/* host <-> network (big-endian) order: the runtime forms (byte-swap instructions) ... */
#define __bpf_htons(x) ((__u16)__pybpf_cpu_to_be16((__u16)(x)))
#define __bpf_ntohs(x) ((__u16)__pybpf_cpu_to_be16((__u16)(x)))
#define __bpf_htonl(x) ((__u32)__pybpf_cpu_to_be32((__u32)(x)))
#define __bpf_ntohl(x) ((__u32)__pybpf_cpu_to_be32((__u32)(x)))
#define __bpf_cpu_to_be64(x) ((__u64)__pybpf_cpu_to_be64((__u64)(x)))
#define __bpf_be64_to_cpu(x) ((__u64)__pybpf_cpu_to_be64((__u64)(x)))
/* ... the constant forms, usable in case labels and static initialisers ... */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ___pybpf_swab16(x) ((__u16)((((__u16)(x) & 0xffU) << 8) | (((__u16)(x) & 0xff00U) >> 8)))
#define ___pybpf_swab32(x)                                                                  \
	((__u32)((((__u32)(x) & 0xffU) << 24) | (((__u32)(x) & 0xff00U) << 8) |              \
		 (((__u32)(x) & 0xff0000U) >> 8) | (((__u32)(x) & 0xff000000U) >> 24)))
#define ___pybpf_swab64(x)                                                                  \
	((__u64)(((__u64)___pybpf_swab32((__u64)(x) & 0xffffffffULL) << 32) |                 \
		 (__u64)___pybpf_swab32((__u64)(x) >> 32)))
#define __bpf_constant_htons(x) ___pybpf_swab16(x)
#define __bpf_constant_ntohs(x) ___pybpf_swab16(x)
#define __bpf_constant_htonl(x) ___pybpf_swab32(x)
#define __bpf_constant_ntohl(x) ___pybpf_swab32(x)
#define __bpf_constant_cpu_to_be64(x) ___pybpf_swab64(x)
#define __bpf_constant_be64_to_cpu(x) ___pybpf_swab64(x)
#else
#define __bpf_constant_htons(x) ((__u16)(x))
#define __bpf_constant_ntohs(x) ((__u16)(x))
#define __bpf_constant_htonl(x) ((__u32)(x))
#define __bpf_constant_ntohl(x) ((__u32)(x))
#define __bpf_constant_cpu_to_be64(x) ((__u64)(x))
#define __bpf_constant_be64_to_cpu(x) ((__u64)(x))
#endif
/* ... and the ones to use everywhere: constant-folded when the argument is a constant */
#define bpf_htons(x) (__builtin_constant_p(x) ? __bpf_constant_htons(x) : __bpf_htons(x))
#define bpf_ntohs(x) (__builtin_constant_p(x) ? __bpf_constant_ntohs(x) : __bpf_ntohs(x))
#define bpf_htonl(x) (__builtin_constant_p(x) ? __bpf_constant_htonl(x) : __bpf_htonl(x))
#define bpf_ntohl(x) (__builtin_constant_p(x) ? __bpf_constant_ntohl(x) : __bpf_ntohl(x))
#define bpf_cpu_to_be64(x) \
	(__builtin_constant_p(x) ? __bpf_constant_cpu_to_be64(x) : __bpf_cpu_to_be64(x))
#define bpf_be64_to_cpu(x) \
	(__builtin_constant_p(x) ? __bpf_constant_be64_to_cpu(x) : __bpf_be64_to_cpu(x))
/* host <-> little-endian order */
#define bpf_cpu_to_le16(x) ((__u16)__pybpf_cpu_to_le16((__u16)(x)))
#define bpf_cpu_to_le32(x) ((__u32)__pybpf_cpu_to_le32((__u32)(x)))
#define bpf_cpu_to_le64(x) ((__u64)__pybpf_cpu_to_le64((__u64)(x)))
#define bpf_le16_to_cpu(x) bpf_cpu_to_le16(x)
#define bpf_le32_to_cpu(x) bpf_cpu_to_le32(x)
#define bpf_le64_to_cpu(x) bpf_cpu_to_le64(x)
/* constant forms under pybpf's earlier names */
#define bpf_constant_htons(x) __bpf_constant_htons(x)
#define bpf_constant_ntohs(x) __bpf_constant_ntohs(x)
#define bpf_constant_htonl(x) __bpf_constant_htonl(x)
#define bpf_constant_ntohl(x) __bpf_constant_ntohl(x)

#endif /* __PYBPF_BPF_ENDIAN_H */
