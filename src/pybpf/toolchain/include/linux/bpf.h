/* SPDX-License-Identifier: MIT */
/* <linux/bpf.h> for eBPF programs built with pybpf: the eBPF user ABI: types, map/program types, flags, context structs (from pybpf's own bpf_uapi.h). */
#ifndef __PYBPF_COMPAT_LINUX_BPF_H
#define __PYBPF_COMPAT_LINUX_BPF_H
#include "../bpf_uapi.h"
#endif
