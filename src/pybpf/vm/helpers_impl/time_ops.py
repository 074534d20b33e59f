"""Time, randomness and CPU helpers: ktime_get_*_ns, jiffies64, get_prandom_u32, CPU and NUMA ids."""

from __future__ import annotations

import gzip
import random
import time
from functools import lru_cache

from pybpf.vm.helper_registry import HelperEnv, helper_state, implements

CLOCK_TAI = getattr(time, "CLOCK_TAI", 11)
CLOCK_MONOTONIC_COARSE = getattr(time, "CLOCK_MONOTONIC_COARSE", 6)
CLOCK_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", 7)


def _clock(clock_id: int, fallback: int) -> int:
    try:
        return time.clock_gettime_ns(clock_id)
    except OSError:
        return time.clock_gettime_ns(fallback)


@implements(5)
def ktime_get_ns(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ktime_get_ns: CLOCK_MONOTONIC in nanoseconds."""
    return time.monotonic_ns()


@implements(125)
def ktime_get_boot_ns(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ktime_get_boot_ns: CLOCK_BOOTTIME (includes suspend) in nanoseconds."""
    return _clock(CLOCK_BOOTTIME, time.CLOCK_MONOTONIC)


@implements(160)
def ktime_get_coarse_ns(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ktime_get_coarse_ns: CLOCK_MONOTONIC_COARSE in nanoseconds."""
    return _clock(CLOCK_MONOTONIC_COARSE, time.CLOCK_MONOTONIC)


@implements(208)
def ktime_get_tai_ns(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ktime_get_tai_ns: CLOCK_TAI in nanoseconds."""
    return _clock(CLOCK_TAI, time.CLOCK_REALTIME)


@lru_cache(maxsize=1)
def kernel_hz() -> int:
    """CONFIG_HZ of the running kernel (from /proc/config.gz), 250 when unknown."""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            for line in f:
                if line.startswith("CONFIG_HZ="):
                    return int(line.split("=", 1)[1])
    except (OSError, ValueError):
        pass
    return 250


@lru_cache(maxsize=1)
def jiffies_offset() -> int:
    """jiffies minus CLOCK_MONOTONIC in ticks, calibrated once from /proc/timer_list ("now at" and
    "jiffies:", root only); without it, INITIAL_JIFFIES plus the boot-time offset."""
    hz = kernel_hz()
    try:
        now_ns = jiffies = None
        with open("/proc/timer_list") as f:
            for line in f:
                if line.startswith("now at ") and now_ns is None:
                    now_ns = int(line.split()[2])
                elif line.startswith("jiffies:") and jiffies is None:
                    jiffies = int(line.split()[1])
                if now_ns is not None and jiffies is not None:
                    return jiffies - now_ns * hz // 1_000_000_000
    except (OSError, ValueError, IndexError):
        pass
    initial = (1 << 32) - 300 * hz  # INITIAL_JIFFIES: the 32-bit counter wraps 5 minutes after boot
    boot_minus_mono = _clock(CLOCK_BOOTTIME, time.CLOCK_MONOTONIC) - time.monotonic_ns()
    return initial + boot_minus_mono * hz // 1_000_000_000


@implements(118)
def jiffies64(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_jiffies64: the kernel's tick counter (HZ ticks per second, see jiffies_offset)."""
    return (jiffies_offset() + time.monotonic_ns() * kernel_hz() // 1_000_000_000) & (2**64 - 1)


def _prandom(env: HelperEnv) -> random.Random:
    seed = getattr(env, "prandom_seed", None)
    return helper_state(env, "prandom", lambda: random.Random(seed))


@implements(7)
def get_prandom_u32(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_prandom_u32: a pseudo-random u32 (seeded from env.prandom_seed when set)."""
    return _prandom(env).getrandbits(32)


@implements(8)
def get_smp_processor_id(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_smp_processor_id: the CPU the program runs on (env.cpu)."""
    return int(env.cpu) & 0xFFFFFFFF


@implements(42)
def get_numa_node_id(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_numa_node_id: always node 0 in user space."""
    return 0
