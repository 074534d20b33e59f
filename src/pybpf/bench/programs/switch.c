/* switch: a 32-case switch on pseudo-random values, 500 times. */
#include "bench.h"

BENCH(switch_case)
{
    void *data = DATA(ctx), *end = DATA_END(ctx);
    if (data + 4 > end)
        return XDP_ABORTED;
    __u32 x = *(__u32 *)data;
    __u32 n = 500;
    OPAQUE(n);
    __u32 acc = 0;
    for (__u32 i = 0; i < n && i < 500; i++) {
        switch ((x >> 7) & 31) {
        case 0: acc += x; break;
        case 1: acc ^= x >> 3; break;
        case 2: acc *= 3; break;
        case 3: acc -= x << 2; break;
        case 4: acc |= 0x100; break;
        case 5: acc &= ~x; break;
        case 6: acc += 17; break;
        case 7: acc ^= 0x5a5a; break;
        case 8: acc = (acc << 1) | (acc >> 31); break;
        case 9: acc += i; break;
        case 10: acc ^= i * 7; break;
        case 11: acc -= 99; break;
        case 12: acc *= 5; break;
        case 13: acc += x >> 9; break;
        case 14: acc ^= acc >> 5; break;
        case 15: acc += 0x1234; break;
        case 16: acc -= i; break;
        case 17: acc |= x & 0xff; break;
        case 18: acc &= 0xfffff; break;
        case 19: acc += acc >> 2; break;
        case 20: acc ^= 0xdeadbeef; break;
        case 21: acc += 3 * i; break;
        case 22: acc -= x & 0xffff; break;
        case 23: acc = (acc >> 3) | (acc << 29); break;
        case 24: acc += 1; break;
        case 25: acc ^= x; break;
        case 26: acc *= 7; break;
        case 27: acc += i ^ x; break;
        case 28: acc -= 12345; break;
        case 29: acc ^= acc << 7; break;
        case 30: acc += 0x777; break;
        default: acc ^= 0x31337; break;
        }
        x = x * 1103515245u + 12345u;
    }
    return acc;
}

LICENSE_GPL;
