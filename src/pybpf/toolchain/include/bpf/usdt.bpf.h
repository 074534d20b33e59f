/* SPDX-License-Identifier: MIT */
/* <bpf/usdt.bpf.h> for eBPF programs built with pybpf: BPF_USDT and bpf_usdt_arg() (from pybpf's own usdt.bpf.h). */
#ifndef __PYBPF_COMPAT_BPF_USDT_BPF_H
#define __PYBPF_COMPAT_BPF_USDT_BPF_H
#include "../usdt.bpf.h"
#endif
