/* A freestanding x86-64 program that declares USDT probes for libbpf-style BPF_USDT programs: the
 * .note.stapsdt notes are written with inline asm as <sys/sdt.h> does (no systemtap header needed), the
 * argument strings printed by the compiler from asm operands, so they name real registers and frames.
 *
 *   test:args  (semaphore test_args_semaphore) the six arguments of a call: register (32-bit signed,
 *              64-bit, 8-bit unsigned), memory (a signed short and a long on the stack), a constant
 *   test:sib   base + index << 2 (+ 4): elements of an int array
 *   test:site  two probe sites of one probe, with different argument locations (a constant, a register)
 *
 * `usdt_target N [wait]`: N (one digit) rounds of the probes; exits with the number of rounds that saw
 * the semaphore set (non-zero only while a USDT program is attached to test:args). With a second
 * argument it first waits for one byte on standard input (so that a program can attach by pid). */

__attribute__((section(".probes"))) volatile unsigned short test_args_semaphore;

#define NOTE(provider, name, sem, args)                                                        \
    "990: nop\n"                                                                               \
    ".pushsection .note.stapsdt,\"?\",\"note\"\n"                                              \
    ".balign 4\n"                                                                              \
    ".4byte 992f-991f, 994f-993f, 3\n"                                                         \
    "991: .asciz \"stapsdt\"\n"                                                                \
    "992: .balign 4\n"                                                                         \
    "993: .8byte 990b\n"                                                                       \
    ".8byte 0\n"                                                                               \
    ".8byte " sem "\n"                                                                         \
    ".asciz \"" provider "\"\n"                                                                \
    ".asciz \"" name "\"\n"                                                                    \
    ".asciz \"" args "\"\n"                                                                    \
    "994: .balign 4\n"                                                                         \
    ".popsection\n"

static int seen;

__attribute__((noinline)) static void args(int round, long big, unsigned char small) {
    volatile short s = (short)(-300 - round);
    volatile long stored = 1000 * round + 7;
    if (test_args_semaphore)
        seen++;
    __asm__ __volatile__(NOTE("test", "args", "test_args_semaphore",
                              "-4@%[a0] 8@%[a1] 1@%[a2] -2@%[a3] -8@%[a4] -4@%[a5]")
                         :: [a0] "r"(round), [a1] "r"(big), [a2] "r"(small), [a3] "m"(s), [a4] "m"(stored),
                            [a5] "n"(-7));
}

__attribute__((noinline)) static void sib(int round) {
    volatile int table[4] = {11 * round, 22 * round, 33 * round, 44 * round};
    long index = round & 1;
    __asm__ __volatile__(NOTE("test", "sib", "0", "-4@(%[base],%[idx],4) -4@4(%[base],%[idx],4)")
                         :: [base] "r"(table), [idx] "r"(index) : "memory");
}

__attribute__((noinline)) static void sites(long round) {
    __asm__ __volatile__(NOTE("test", "site", "0", "8@$100") ::);
    __asm__ __volatile__(NOTE("test", "site", "0", "8@%[r]") :: [r] "r"(round + 200));
}

__attribute__((noreturn)) static void sys_exit(long status) {
    __asm__ __volatile__("syscall" :: "a"(60L), "D"(status) : "rcx", "r11", "memory");
    __builtin_unreachable();
}

static long sys_read(long fd, char *buf, long n) {
    long ret;
    __asm__ __volatile__("syscall" : "=a"(ret) : "a"(0L), "D"(fd), "S"(buf), "d"(n) : "rcx", "r11", "memory");
    return ret;
}

__attribute__((used)) void start_c(long *stack) {
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    int count = argc > 1 ? argv[1][0] - '0' : 2;
    char byte;
    if (argc > 2)
        sys_read(0, &byte, 1);
    for (int i = 0; i < count; i++) {
        args(-i, 10000000000L * (i + 1), (unsigned char)(250 + i));
        sib(i);
        sites(i);
    }
    sys_exit(seen);
}

__asm__(".globl _start\n_start:\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call start_c\n  hlt\n");
