/* SPDX-License-Identifier: MIT */
/* <linux/types.h> for eBPF programs built with pybpf: the fixed-width __u8..__u64 and __be16/__be32 types (from pybpf's own bpf_uapi.h). */
#ifndef __PYBPF_COMPAT_LINUX_TYPES_H
#define __PYBPF_COMPAT_LINUX_TYPES_H
#include "../bpf_uapi.h"
#endif
