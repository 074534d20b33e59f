/* String literals (.rodata.str1.1, referenced through the section symbol plus an offset) and .rodata. */
#include "common.h"

static long (*bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *)6;
const char greeting[] = "hello";
volatile int big_table[64] = { 1, 2, 3 };

SEC("tp/syscalls/sys_enter_getpid") int say(void *ctx)
{
    bpf_trace_printk("first %d\n", 10, 1);
    bpf_trace_printk("second %d\n", 11, big_table[2]);
    bpf_trace_printk(greeting, sizeof(greeting));
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
