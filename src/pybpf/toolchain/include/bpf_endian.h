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

/* host <-> network (big-endian) order */
#define bpf_htons(x) ((__u16)__pybpf_cpu_to_be16((__u16)(x)))
#define bpf_ntohs(x) ((__u16)__pybpf_cpu_to_be16((__u16)(x)))
#define bpf_htonl(x) ((__u32)__pybpf_cpu_to_be32((__u32)(x)))
#define bpf_ntohl(x) ((__u32)__pybpf_cpu_to_be32((__u32)(x)))
#define bpf_cpu_to_be64(x) ((__u64)__pybpf_cpu_to_be64((__u64)(x)))
#define bpf_be64_to_cpu(x) ((__u64)__pybpf_cpu_to_be64((__u64)(x)))
/* host <-> little-endian order */
#define bpf_cpu_to_le16(x) ((__u16)__pybpf_cpu_to_le16((__u16)(x)))
#define bpf_cpu_to_le32(x) ((__u32)__pybpf_cpu_to_le32((__u32)(x)))
#define bpf_cpu_to_le64(x) ((__u64)__pybpf_cpu_to_le64((__u64)(x)))
#define bpf_le16_to_cpu(x) bpf_cpu_to_le16(x)
#define bpf_le32_to_cpu(x) bpf_cpu_to_le32(x)
#define bpf_le64_to_cpu(x) bpf_cpu_to_le64(x)
/* libbpf-compatible spellings for constants in case labels and initialisers */
#define bpf_constant_htons(x) bpf_htons(x)
#define bpf_constant_ntohs(x) bpf_ntohs(x)
#define bpf_constant_htonl(x) bpf_htonl(x)
#define bpf_constant_ntohl(x) bpf_ntohl(x)

#endif /* __PYBPF_BPF_ENDIAN_H */
