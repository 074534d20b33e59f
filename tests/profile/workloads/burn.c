/* burn.c - a profiling workload: three functions burn CPU in the proportions 1:2:3, one function
 * in a shared library (libburn.so) burns as much as burn_one, and a loop of getppid() system calls
 * spends its time in the kernel. Runs for argv[1] seconds. Built with -fno-omit-frame-pointer. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void lib_burn(unsigned long rounds);

static volatile unsigned long sink;

/* each burner has its own loop (no shared helper that a tail call would hide them behind) */
__attribute__((noinline)) void burn_one(void)
{
	for (unsigned long i = 0; i < 1000000; i++)
		sink += i;
}

__attribute__((noinline)) void burn_two(void)
{
	for (unsigned long i = 0; i < 2000000; i++)
		sink += i;
}

__attribute__((noinline)) void burn_three(void)
{
	for (unsigned long i = 0; i < 3000000; i++)
		sink += i;
}

__attribute__((noinline)) void syscall_loop(void)
{
	for (int i = 0; i < 20000; i++)
		getppid();
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5.0;
	int mode = argc > 2 ? atoi(argv[2]) : 0; /* 0: the 1:2:3 burners only, 1: library and syscalls */
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		if (mode == 0) {
			burn_one();
			burn_two();
			burn_three();
		} else {
			lib_burn(1000000);
			syscall_loop();
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
	return 0;
}
