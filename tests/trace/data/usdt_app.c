/* A program that declares USDT probes (a .note.stapsdt note per probe point, written with inline asm like
 * <sys/sdt.h> does, so no systemtap header is needed): app:start (no arguments), app:work (a 32-bit register,
 * a 64-bit register and a memory operand, with a semaphore) and app:done (a constant).
 * Freestanding (no libc, built in a moment): `usdt_app N [wait]` calls work() N times (N: one digit), then
 * exits with status = how many of those calls saw the semaphore set (non-zero while a tracer is attached).
 * With a second argument it first waits for one byte on standard input (so that a tracer can attach by pid). */

__attribute__((section(".probes"))) volatile unsigned short app_work_semaphore;

#define NOTE_BEGIN(provider, name, sem)                                                      \
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
    ".asciz \"" name "\"\n"
#define NOTE_END                                                                               \
    "994: .balign 4\n"                                                                         \
    ".popsection\n"

static int seen;

__attribute__((noinline)) static void work(int i, long big, long stored) {
    volatile long slot = stored;
    if (app_work_semaphore)
        seen++;
    __asm__ __volatile__(NOTE_BEGIN("app", "work", "app_work_semaphore")
                         ".asciz \"-4@%[a0] 8@%[a1] 8@%[a2]\"\n" NOTE_END
                         :: [a0] "r"(i), [a1] "r"(big), [a2] "m"(slot));
}

__attribute__((noinline)) static void done(void) {
    __asm__ __volatile__(NOTE_BEGIN("app", "done", "0") ".asciz \"4@$42\"\n" NOTE_END);
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
    int count = argc > 1 ? argv[1][0] - '0' : 3;
    char byte;
    if (argc > 2)
        sys_read(0, &byte, 1);
    __asm__ __volatile__(NOTE_BEGIN("app", "start", "0") ".asciz \"\"\n" NOTE_END);
    for (int i = 0; i < count; i++)
        work(-i, 10000000000L * i, 7 * i);
    done();
    sys_exit(seen);
}

__asm__(".globl _start\n_start:\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call start_c\n  hlt\n");
