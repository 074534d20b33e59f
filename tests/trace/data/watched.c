/* Freestanding (no libc, no loader): stores 1..5 into the global `watched`, one store each, then exits with
 * status 0. A watchpoint on `watched` (written w) therefore fires exactly five times. */

volatile long watched;

void _start(void) {
    for (long i = 1; i <= 5; i++)
        watched = i;
    __asm__ volatile("mov $60, %%eax\n xor %%edi, %%edi\n syscall" ::: "rax", "rdi", "memory");
    __builtin_unreachable();
}
