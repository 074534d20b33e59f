/* SPDX-License-Identifier: MIT */
/* <bpf/bpf_helper_defs.h> for eBPF programs built with pybpf: every helper declared by its kernel id (from pybpf's own bpf_helper_defs.h). */
#ifndef __PYBPF_COMPAT_BPF_BPF_HELPER_DEFS_H
#define __PYBPF_COMPAT_BPF_BPF_HELPER_DEFS_H
#include "../bpf_helper_defs.h"
#endif
