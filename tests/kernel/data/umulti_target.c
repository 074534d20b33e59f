/* The target of the uprobe-multi tests: pb_fn_a runs 3 times, pb_fn_b twice, pb_other 5 times, then the
 * process exits with their sum & 0x7f. Freestanding x86-64 (zig cc -nostdlib -static): no libc to build. */
__attribute__((noinline)) int pb_fn_a(int x) { __asm__ volatile(""); return x + 1; }
__attribute__((noinline)) int pb_fn_b(int x) { __asm__ volatile(""); return x * 3; }
__attribute__((noinline)) int pb_other(int x) { __asm__ volatile(""); return x - 1; }

__attribute__((noreturn)) void start_c(void) {
    int s = 0;
    for (int i = 0; i < 3; i++) s += pb_fn_a(i);
    for (int i = 0; i < 2; i++) s += pb_fn_b(i);
    for (int i = 0; i < 5; i++) s += pb_other(i);
    __asm__ __volatile__("syscall" :: "a"(60L), "D"((long)(s & 0x7f)) : "rcx", "r11", "memory");
    __builtin_unreachable();
}

__asm__(".globl _start\n_start:\n  and $-16, %rsp\n  call start_c\n  hlt\n");
