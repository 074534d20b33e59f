/* `extern ... __kconfig` variables: values from the kernel configuration, through a .kconfig map. */
#include "common.h"
#define __kconfig __attribute__((section(".kconfig")))
#define __weak __attribute__((weak))

enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 };

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_PYBPF_TEST_TRISTATE __kconfig __weak;
extern int CONFIG_HZ __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[16] __kconfig __weak;
extern unsigned long long CONFIG_PYBPF_MISSING __kconfig __weak;

__u64 seen[6];

SEC("syscall") int read_kconfig(void *ctx)
{
    seen[0] = LINUX_KERNEL_VERSION;
    seen[1] = CONFIG_BPF_SYSCALL;
    seen[2] = CONFIG_PYBPF_TEST_TRISTATE;
    seen[3] = CONFIG_HZ;
    seen[4] = CONFIG_DEFAULT_HOSTNAME[0];
    seen[5] = CONFIG_PYBPF_MISSING;
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
