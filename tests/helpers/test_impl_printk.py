"""trace_printk, trace_vprintk and snprintf: the kernel's accepted formats, output and return values."""

from __future__ import annotations

import ctypes
import errno
import random
import struct

import pytest

from helpers.fakeenv import FakeEnv
from pybpf.vm.helper_registry import REGISTRY
from pybpf.vm.helpers_impl import printk  # noqa: F401 - registers the helpers

M64 = (1 << 64) - 1
EINVAL = -errno.EINVAL & M64
libc = ctypes.CDLL(None)


def call(helper_id: int, env: FakeEnv, *args: int) -> int:
    regs = list(args) + [0] * (5 - len(args))
    return REGISTRY[helper_id](env, *regs)


def printk_(fmt: bytes, *args: int) -> tuple[int, list[str]]:
    env = FakeEnv()
    rc = call(6, env, env.alloc(fmt), len(fmt), *args)
    return rc, env.lines


def c_format(fmt: str, *args: object) -> str:
    buf = ctypes.create_string_buffer(512)
    libc.snprintf(buf, 512, fmt.encode(), *args)
    return buf.value.decode()


def test_basic_conversions() -> None:
    rc, lines = printk_(b"pid %d ret %u hex %x\n\0", 42, 7, 255)
    assert lines == ["pid 42 ret 7 hex ff"]
    assert rc == len("pid 42 ret 7 hex ff\n")


def test_int_conversions_truncate_to_32_bits() -> None:
    assert printk_(b"%d %u %x\0", M64, M64, 0x1_0000_0010)[1] == ["-1 4294967295 10"]
    assert printk_(b"%ld %lu %lx\0", M64, M64, 0x1_0000_0010)[1] == [
        "-1 18446744073709551615 100000010"
    ]
    assert printk_(b"%lld %llu %llx\0", 1 << 63, 1 << 63, 1 << 63)[1] == [
        "-9223372036854775808 9223372036854775808 8000000000000000"
    ]
    assert printk_(b"%i %X %li\0", -5 & M64, 0xABCDEF, -7 & M64)[1] == ["-5 ABCDEF -7"]


def test_width_and_flags_match_c() -> None:
    rng = random.Random(5)
    for _ in range(200):
        flag = rng.choice(["", "-", "0", " ", "+", "-0"])
        width = rng.choice(["", "1", "5", "12"])
        conv = rng.choice(["d", "u", "x", "X", "ld", "lu", "lx", "llu", "lld"])
        value = rng.choice([0, 1, -1 & M64, rng.getrandbits(64), rng.getrandbits(31), 1 << 31])
        fmt = f"[%{flag}{width}{conv}]"
        if conv.startswith("l"):
            expected = c_format(
                fmt,
                ctypes.c_ulonglong(value)
                if conv[-1] in "ux"
                else ctypes.c_longlong(value if value < 1 << 63 else value - (1 << 64)),
            )
        else:
            low = value & 0xFFFFFFFF
            expected = c_format(
                fmt,
                ctypes.c_uint(low)
                if conv in "uxX"
                else ctypes.c_int(low if low < 1 << 31 else low - (1 << 32)),
            )
        assert printk_(fmt.encode() + b"\0", value)[1] == [expected], fmt


def test_strings_chars_and_pointers() -> None:
    env = FakeEnv()
    name = env.alloc(b"bash\0")
    text = b"comm=%s c=%c p=%p\0"
    rc = call(6, env, env.alloc(text), len(text), name, ord("Z"), 0xFFFF8880DEADBEEF)
    assert env.lines == ["comm=bash c=Z p=ffff8880deadbeef"]
    assert rc == len(env.lines[0])
    # an unreadable string prints as empty, like the kernel
    rc2 = call(6, env, env.alloc(b"[%s]\0"), 5, 0x10)
    assert env.lines[-1] == "[]" and rc2 == 2


def test_ip_addresses() -> None:
    env = FakeEnv()
    ip4 = env.alloc(bytes([192, 168, 1, 20]))
    ip6 = env.alloc(bytes.fromhex("20010db8000000000000000000000001"))
    call(6, env, env.alloc(b"%pI4 %pi4 %pI6\0"), 15, ip4, ip4, ip6)
    assert env.lines == ["192.168.1.20 192.168.001.020 2001:0db8:0000:0000:0000:0000:0000:0001"]


@pytest.mark.parametrize(
    "fmt",
    [
        b"%d %d %d %d\0",  # four conversions, three arguments at most
        b"%q\0",
        b"%hd\0",
        b"%5%\0",
        b"%sx\0",  # %s must be followed by space/punctuation/end
        b"no terminator",
        b"bad \x01 char\0",
        b"%pZ\0",
    ],
)
def test_rejected_formats(fmt: bytes) -> None:
    rc, lines = printk_(fmt, 1, 2, 3)
    assert rc == EINVAL and lines == []


def test_percent_percent_and_zero_size() -> None:
    assert printk_(b"100%%\0")[1] == ["100%"]
    env = FakeEnv()
    assert call(6, env, env.alloc(b"x\0"), 0) == EINVAL


def test_trace_vprintk_takes_an_argument_array() -> None:
    env = FakeEnv()
    args = env.alloc(struct.pack("<5Q", 1, 2, 3, 4, 5))
    fmt = env.alloc(b"%d-%d-%d-%d-%d\0")
    assert call(177, env, fmt, 15, args, 40) == len("1-2-3-4-5")
    assert env.lines == ["1-2-3-4-5"]
    assert call(177, env, fmt, 15, args, 39) == EINVAL  # not a multiple of 8
    assert call(177, env, fmt, 15, args, 8 * 13) == EINVAL  # more than 12 arguments


def test_snprintf_writes_and_returns_length_plus_one() -> None:
    env = FakeEnv()
    out = env.alloc(16)
    args = env.alloc(struct.pack("<2Q", 7, 0xBEEF))
    fmt = env.alloc(b"n=%d x=%lx\0", writable=False)
    assert call(165, env, out, 16, fmt, args, 16) == len("n=7 x=beef") + 1
    assert env.read(out, 11) == b"n=7 x=beef\0"
    small = env.alloc(4)
    assert call(165, env, small, 4, fmt, args, 16) == len("n=7 x=beef") + 1  # would-be length
    assert env.read(small, 4) == b"n=7\0"
    assert call(165, env, out, 16, fmt, args, 8) == EINVAL  # two conversions, one argument
