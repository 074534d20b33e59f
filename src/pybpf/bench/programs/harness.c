/* Native timing harness linked into each benchmark's shared library (cc -O2 -DPROGRAM=name).
 * bench_run copies the packet once and calls the program `repeat` times through a volatile
 * function pointer (like an engine calling a loaded program); returns total nanoseconds. */
#include <stdint.h>
#include <string.h>
#include <time.h>

struct bench_ctx { void *data; void *data_end; };
int PROGRAM(struct bench_ctx *ctx);

static unsigned char packet[65536];

uint64_t bench_run(const void *data, uint32_t len, uint64_t repeat, uint32_t *retval)
{
    int (*volatile fn)(struct bench_ctx *) = PROGRAM;
    struct bench_ctx ctx;
    struct timespec a, b;
    int r = 0;
    if (len > sizeof(packet))
        len = sizeof(packet);
    memcpy(packet, data, len);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (uint64_t i = 0; i < repeat; i++) {
        ctx.data = packet;
        ctx.data_end = packet + len;
        r = fn(&ctx);
        __asm__ volatile("" ::: "memory");
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    *retval = (uint32_t)r;
    return (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull + (uint64_t)(b.tv_nsec - a.tv_nsec);
}
