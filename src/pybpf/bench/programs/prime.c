/* prime: count the primes below 1000 by trial division (bounded loops). */
#include "bench.h"

BENCH(prime)
{
    __u32 limit = 1000;
    OPAQUE(limit);
    __u32 count = 0;
    for (__u32 n = 2; n < limit && n < 1000; n++) {
        __u32 is_prime = 1;
        for (__u32 d = 2; d < 32; d++) {
            if (d * d > n)
                break;
            if (n % d == 0) {
                is_prime = 0;
                break;
            }
        }
        count += is_prime;
    }
    return count;
}

LICENSE_GPL;
