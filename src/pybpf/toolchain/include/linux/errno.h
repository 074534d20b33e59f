/* SPDX-License-Identifier: MIT */
/* <linux/errno.h> for eBPF programs built with pybpf: the Linux error numbers (asm-generic). */
#ifndef __PYBPF_LINUX_ERRNO_H
#define __PYBPF_LINUX_ERRNO_H
#include "../asm-generic/errno.h"
#endif
