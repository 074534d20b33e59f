/* Deterministic workload for the pybpf trace tests: known files, write/pread sizes, calls and an exec. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NFILES 5
#define NCALLS 7

__attribute__((noinline)) int traced_add(int a, int b)
{
	__asm__ volatile("" ::: "memory");
	return a + b;
}

/* eight arguments: on x86-64 the last two are passed on the stack (sarg0, sarg1) */
__attribute__((noinline)) long traced_many(long a, long b, long c, long d, long e, long f, long g, long h)
{
	__asm__ volatile("" ::: "memory");
	return a + b + c + d + e + f + g + h;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	static char buf[4096];
	char path[512];
	volatile int total = 0;

	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "%s/wl_file_%d", dir, i);
		int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
		if (fd < 0)
			return 1;
		if (write(fd, buf, 100 * (i + 1)) < 0)
			return 1;
		if (pread(fd, buf, 4096, 0) < 0)
			return 1;
		close(fd);
	}
	for (int i = 0; i < NCALLS; i++)
		total += traced_add(i, 10 * i);
	if (traced_many(1, 2, 3, 4, 5, 6, 70, 80) != 171)
		return 3;
	struct timespec ts = {0, 1234};
	nanosleep(&ts, NULL);
	pid_t pid = fork();
	if (pid == 0) {
		/* strings on the child's own stack: probes can read them without faulting pages in */
		char prog[16], a0[16], a1[16], a2[16];
		strcpy(prog, "/bin/true");
		strcpy(a0, "true");
		strcpy(a1, "wl-arg");
		strcpy(a2, "second");
		execl(prog, a0, a1, a2, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
	return total == 231 ? 0 : 2;
}
