/* simple: return a constant (per-call overhead of each engine). */
#include "bench.h"

BENCH(simple) { return XDP_PASS; }

LICENSE_GPL;
