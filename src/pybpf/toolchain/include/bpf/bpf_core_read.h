/* SPDX-License-Identifier: MIT */
/* <bpf/bpf_core_read.h> for eBPF programs built with pybpf: BPF_CORE_READ and CO-RE relocations (from pybpf's own bpf_core_read.h). */
#ifndef __PYBPF_COMPAT_BPF_BPF_CORE_READ_H
#define __PYBPF_COMPAT_BPF_BPF_CORE_READ_H
#include "../bpf_core_read.h"
#endif
