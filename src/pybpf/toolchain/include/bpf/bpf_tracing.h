/* SPDX-License-Identifier: MIT */
/* <bpf/bpf_tracing.h> for eBPF programs built with pybpf: PT_REGS_* and BPF_PROG/BPF_KPROBE (from pybpf's own bpf_tracing.h). */
#ifndef __PYBPF_COMPAT_BPF_BPF_TRACING_H
#define __PYBPF_COMPAT_BPF_BPF_TRACING_H
#include "../bpf_tracing.h"
#endif
