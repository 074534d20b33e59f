"""strtol/strtoul/strncmp/csum_diff, time, task and probe_read helper implementations."""

from __future__ import annotations

import errno
import os
import struct
import threading
import time

import pytest

from helpers.fakeenv import FakeEnv
from pybpf.vm.helper_registry import REGISTRY
from pybpf.vm.helpers_impl import probe_read, strings, task, time_ops  # noqa: F401 - registers

M64 = (1 << 64) - 1


def neg(e: int) -> int:
    return -e & M64


def call(helper_id: int, env: FakeEnv, *args: int) -> int:
    regs = list(args) + [0] * (5 - len(args))
    return REGISTRY[helper_id](env, *regs)


def strtox(helper_id: int, text: bytes, flags: int = 0) -> tuple[int, int | None]:
    env = FakeEnv()
    res = env.alloc(b"\xaa" * 8)
    rc = call(helper_id, env, env.alloc(text), len(text), flags, res)
    raw = env.read(res, 8)
    value = struct.unpack("<q" if helper_id == 105 else "<Q", raw)[0]
    if rc >> 63:
        assert value == 0  # *res is zeroed when parsing fails (Linux >= 6.11)
        return rc, None
    return rc, value


@pytest.mark.parametrize(
    ("text", "flags", "rc", "value"),
    [
        (b"123", 0, 3, 123),
        (b"  -42xyz", 0, 5, -42),
        (b"0x1F", 0, 4, 31),
        (b"0x1F", 16, 4, 31),
        (b"1F", 16, 2, 31),
        (b"017", 0, 3, 15),  # base 0: a leading 0 means octal
        (b"019", 0, 2, 1),  # "9" is not octal: stops after "01"
        (b"0xg", 0, 1, 0),  # "0x" without a hex digit: octal 0
        (b"99", 8, neg(errno.EINVAL), None),
        (b"", 0, neg(errno.EINVAL), None),
        (b"   ", 0, neg(errno.EINVAL), None),
        (b"-", 0, neg(errno.EINVAL), None),
        (b"12", 7, neg(errno.EINVAL), None),  # bad base
        (b"12", 0x20, neg(errno.EINVAL), None),  # unknown flag bits
        (b"9223372036854775807", 10, 19, (1 << 63) - 1),
        (b"9223372036854775808", 10, neg(errno.ERANGE), None),
        (b"-9223372036854775808", 10, 20, -(1 << 63)),
        (b"-9223372036854775809", 10, neg(errno.ERANGE), None),
        (b"18446744073709551616", 10, neg(errno.ERANGE), None),
        (b"+5", 0, neg(errno.EINVAL), None),  # the kernel does not take a '+'
        (b"12\x0034", 0, 2, 12),
    ],
)
def test_strtol(text: bytes, flags: int, rc: int, value: int | None) -> None:
    assert strtox(105, text, flags) == (rc & M64, value)


def test_strtoul() -> None:
    assert strtox(106, b"18446744073709551615") == (20, M64)
    assert strtox(106, b"-1") == (neg(errno.EINVAL), None)
    assert strtox(106, b"0x10") == (4, 16)


def test_strncmp() -> None:
    env = FakeEnv()
    s1 = env.alloc(b"hello world")
    for s2, size, expected in [
        (b"hello\0", 5, 0),
        (b"hello\0", 6, 1),  # s1 has ' ' where s2 ends
        (b"help\0", 11, -1),  # 'l' < 'p'
        (b"hello world\0", 11, 0),
        (b"hella\0", 11, 1),
        (b"\0", 0, 0),
    ]:
        assert call(182, env, s1, size, env.alloc(s2, writable=False)) == expected & M64, (s2, size)


def test_csum_diff() -> None:
    env = FakeEnv()
    one = env.alloc(struct.pack("<I", 1))
    two = env.alloc(struct.pack("<I", 2))
    # ~1 + 2 = 0xfffffffe + 2 = 0x1_0000_0000 -> end-around carry -> 1
    assert call(28, env, one, 4, two, 4, 0) == 1
    # only "to": the sum of its words plus the seed
    words = env.alloc(struct.pack("<3I", 0xFFFFFFFF, 0x00000002, 0x10))
    assert call(28, env, 0, 0, words, 12, 5) == (0xFFFFFFFF + 2 + 0x10 + 5 - 0xFFFFFFFF)
    # any size (Linux >= 6.13): a 3-byte `from` is zero-padded to a word, 0x000001 -> ~1 as before
    assert call(28, env, one, 3, two, 4, 0) == 1
    assert call(28, env, 0, 0, 0, 0, 0x1234) == 0x1234
    # the result is folded to 16 bits: 0x1234 + 0x5678
    assert call(28, env, 0, 0, env.alloc(struct.pack("<I", 0x12345678)), 4, 0) == 0x68AC
    # 0x8000 + 0x8000 carries out of 16 bits and back in
    assert call(28, env, 0, 0, env.alloc(struct.pack("<2I", 0x8000, 0x8000)), 8, 0) == 1
    big = env.alloc(bytes(516))
    # csum_sub(0, 0) = 0 + ~0 = 0xffffffff, folded: 0xffff (the kernel gives the same)
    assert call(28, env, big, 256, big, 260, 0) == 0xFFFF


def test_time_helpers_are_monotonic_clocks() -> None:
    env = FakeEnv()
    before = time.monotonic_ns()
    t = call(5, env)
    after = time.monotonic_ns()
    assert before <= t <= after
    boot = call(125, env)
    assert boot >= t - 10**9  # BOOTTIME >= MONOTONIC (up to clock granularity)
    assert call(160, env) > 0 and call(208, env) > 0
    j1 = call(118, env)
    j2 = call(118, env)
    assert j2 >= j1 > 0


def test_prandom_is_seedable() -> None:
    a, b = FakeEnv(), FakeEnv()
    a.prandom_seed = b.prandom_seed = 42  # type: ignore[attr-defined]
    seq_a = [call(7, a) for _ in range(5)]
    assert seq_a == [call(7, b) for _ in range(5)]
    assert all(0 <= v < 1 << 32 for v in seq_a) and len(set(seq_a)) > 1


def test_cpu_and_numa() -> None:
    assert call(8, FakeEnv(cpu=1)) == 1
    assert call(42, FakeEnv()) == 0


def test_current_task() -> None:
    env = FakeEnv()
    assert call(14, env) == (os.getpid() << 32) | threading.get_native_id()
    assert call(15, env) == (os.getgid() << 32) | os.getuid()
    env.extra["task"] = {"pid": 7, "tgid": 5, "uid": 1000, "gid": 100, "comm": b"nginx"}
    assert call(14, env) == (5 << 32) | 7
    assert call(15, env) == (100 << 32) | 1000
    buf = env.alloc(b"\xff" * 16)
    assert call(16, env, buf, 16) == 0
    assert env.read(buf, 16) == b"nginx" + bytes(11)
    small = env.alloc(b"\xff" * 4)
    assert call(16, env, small, 4) == 0 and env.read(small, 4) == b"ngi\0"


def test_comm_of_this_process() -> None:
    env = FakeEnv()
    buf = env.alloc(16)
    call(16, env, buf, 16)
    with open("/proc/thread-self/comm", "rb") as f:
        expected = f.read().strip()[:15]
    assert env.read(buf, 16).rstrip(b"\0") == expected


def test_probe_read_family() -> None:
    env = FakeEnv()
    src = env.alloc(b"secret\0tail")
    dst = env.alloc(b"\xff" * 8)
    assert call(113, env, dst, 6, src) == 0 and env.read(dst, 6) == b"secret"
    assert call(113, env, dst, 8, 0x10) == neg(errno.EFAULT)
    assert env.read(dst, 8) == bytes(8)  # zeroed on failure
    assert call(115, env, dst, 8, src) == 7  # "secret" + NUL
    assert env.read(dst, 7) == b"secret\0"
    assert call(114, env, dst, 4, src) == 4 and env.read(dst, 4) == b"sec\0"
    assert call(4, env, dst, 0, src) == 0
