/* SPDX-License-Identifier: MIT */
/* <bpf/bpf_helpers.h> for eBPF programs built with pybpf: SEC, BTF map macros and every helper (from pybpf's own bpf_helpers.h). */
#ifndef __PYBPF_COMPAT_BPF_BPF_HELPERS_H
#define __PYBPF_COMPAT_BPF_BPF_HELPERS_H
#include "../bpf_helpers.h"
#endif
