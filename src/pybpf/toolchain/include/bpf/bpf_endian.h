/* SPDX-License-Identifier: MIT */
/* <bpf/bpf_endian.h> for eBPF programs built with pybpf: bpf_htons() and the other byte order conversions (from pybpf's own bpf_endian.h). */
#ifndef __PYBPF_COMPAT_BPF_BPF_ENDIAN_H
#define __PYBPF_COMPAT_BPF_BPF_ENDIAN_H
#include "../bpf_endian.h"
#endif
