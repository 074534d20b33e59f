/* SPDX-License-Identifier: MIT */
/* <linux/pkt_cls.h> for eBPF programs built with pybpf: TC_ACT_* return codes (from pybpf's own bpf_uapi.h). */
#ifndef __PYBPF_COMPAT_LINUX_PKT_CLS_H
#define __PYBPF_COMPAT_LINUX_PKT_CLS_H
#include "../bpf_uapi.h"
#endif
