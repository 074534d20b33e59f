/* SPDX-License-Identifier: MIT */
/* <linux/icmp.h> for eBPF programs built with pybpf: packet header structs and protocol numbers (from pybpf's own bpf_packet.h). */
#ifndef __PYBPF_COMPAT_LINUX_ICMP_H
#define __PYBPF_COMPAT_LINUX_ICMP_H
#include "../bpf_packet.h"
#endif
