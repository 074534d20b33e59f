/* SPDX-License-Identifier: MIT */
/* <asm/errno.h> for eBPF programs built with pybpf: the Linux error numbers (asm-generic). */
#ifndef __PYBPF_ASM_ERRNO_H
#define __PYBPF_ASM_ERRNO_H
#include "../asm-generic/errno.h"
#endif
