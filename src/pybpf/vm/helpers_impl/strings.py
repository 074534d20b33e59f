"""String and checksum helpers: bpf_strtol, bpf_strtoul, bpf_strncmp and bpf_csum_diff.

strtol/strtoul follow the kernel's __bpf_strtoull: leading whitespace, an optional '-',
base 0 (auto: 0x -> 16, 0 -> 8, else 10), 8, 10 or 16 (a "0x" prefix is skipped for 16), at
most 63 characters after the sign; they return the number of characters consumed, -EINVAL when
no digit was parsed or the flags are bad, -ERANGE on overflow (strtoul also -EINVAL for a '-');
*res is zeroed first, so it reads 0 after an error.
csum_diff is the kernel's since Linux 6.13, the same on every architecture: with csum_partial
the 32-bit end-around-carry sum of the little-endian words onto a seed, the result is
csum_sub(csum_partial(to, seed), csum_partial(from, 0)) (or csum_partial(to, seed) alone, or
~csum_partial(from, ~seed) alone) folded to 16 bits (csum_from32to16); any sizes (an odd
tail is zero-padded; Linux before 6.13 wanted multiples of 4 and at most 512 bytes).
"""

from __future__ import annotations

import struct

from pybpf.isa.opcodes import M32
from pybpf.vm.helper_registry import HelperEnv, implements
from pybpf.vm.helpers_impl.common import EINVAL, ERANGE, rc

BPF_STRTOX_BASE_MASK = 0x1F
_SPACE = b" \t\n\v\f\r"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def parse_integer(text: bytes, flags: int) -> tuple[int, bool, int] | int:
    """(value, negative, consumed) or a negative errno, like the kernel's __bpf_strtoull."""
    base = flags & BPF_STRTOX_BASE_MASK
    if base not in (0, 8, 10, 16) or flags & ~BPF_STRTOX_BASE_MASK:
        return -22
    i = 0
    while i < len(text) and text[i] in _SPACE:
        i += 1
    negative = i < len(text) and text[i] == ord("-")
    if negative:
        i += 1
    consumed = i
    if consumed == len(text):
        return -22
    s = text[i : i + 63].split(b"\0", 1)[0].decode("latin-1").lower()
    j = 0
    if base == 0:
        if s[:1] == "0":
            base = 16 if s[1:2] == "x" and s[2:3] != "" and s[2] in "0123456789abcdef" else 8
        else:
            base = 10
    if base == 16 and s[:2] == "0x":
        j = 2
    start = j
    value = 0
    overflow = False
    while j < len(s) and s[j] in _DIGITS[:base]:
        value = value * base + _DIGITS.index(s[j])
        if value >> 64:
            overflow = True
        j += 1
    if overflow:
        return -34
    if j == start:
        return -22
    return value, negative, consumed + j


def _read_buf(env: HelperEnv, address: int, size: int) -> bytes:
    return env.read(address, size)


def _parse_into_res(env: HelperEnv, r1: int, r2: int, r3: int, r4: int) -> int | tuple[int, bool, int]:
    """The start strtol and strtoul share: zero *res, parse the buffer; an int is the helper's result."""
    env.write(r4, bytes(8))  # *res = 0 first: on error the result is 0 (Linux >= 6.11)
    if not r2:
        return EINVAL
    parsed = parse_integer(_read_buf(env, r1, r2), r3)
    if isinstance(parsed, int):
        return rc(parsed)
    return parsed


@implements(105)
def strtol(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_strtol(buf, buf_len, flags, res): parse a signed integer into *res (s64)."""
    parsed = _parse_into_res(env, r1, r2, r3, r4)
    if isinstance(parsed, int):
        return parsed
    value, negative, consumed = parsed
    if negative:
        if value > 1 << 63:
            return ERANGE
        value = -value
    elif value >= 1 << 63:
        return ERANGE
    env.write(r4, struct.pack("<q", value))
    return consumed


@implements(106)
def strtoul(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_strtoul(buf, buf_len, flags, res): parse an unsigned integer into *res (u64)."""
    parsed = _parse_into_res(env, r1, r2, r3, r4)
    if isinstance(parsed, int):
        return parsed
    value, negative, consumed = parsed
    if negative:
        return EINVAL
    env.write(r4, struct.pack("<Q", value))
    return consumed


@implements(182)
def strncmp(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_strncmp(s1, s1_sz, s2): -1, 0 or 1 comparing at most s1_sz bytes (lib/string.c strncmp)."""
    size = r2 & 0xFFFFFFFF
    s1 = env.read(r1, size)
    s2 = env.read_str(r3, size) + b"\0"
    for i in range(size):
        c1 = s1[i]
        c2 = s2[i] if i < len(s2) else 0
        if c1 != c2:
            return rc(-1 if c1 < c2 else 1)
        if not c1:
            break
    return 0


def csum_fold32(total: int) -> int:
    """Fold an integer sum to 32 bits with end-around carry."""
    while total >> 32:
        total = (total & M32) + (total >> 32)
    return total


def csum_partial(data: bytes, seed: int) -> int:
    """The kernel's csum_partial: the 32-bit one's complement sum of the little-endian words onto
    `seed`, a tail shorter than a word padded with zero bytes (x86-64 loads it zero-extended)."""
    data = bytes(data) + bytes(-len(data) % 4)
    return csum_fold32((seed & M32) + sum(w for (w,) in struct.iter_unpack("<I", data)))


def csum_sub(a: int, b: int) -> int:
    """csum_sub: a + ~b with end-around carry (csum_add(a, ~b))."""
    b = ~b & M32
    r = (a + b) & M32
    return r + (1 if r < b else 0)


def csum_from32to16(total: int) -> int:
    """Fold a 32-bit checksum to 16 bits (add the rotated halves, keep the upper half)."""
    total = (total + (((total >> 16) | (total << 16)) & M32)) & M32
    return total >> 16


@implements(28)
def csum_diff(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_diff(from, from_size, to, to_size, seed): the checksum difference, folded to 16 bits."""
    from_size, to_size = r2 & M32, r4 & M32
    ret = r5 & M32
    if from_size and to_size:
        ret = csum_sub(
            csum_partial(env.read(r3, to_size), ret), csum_partial(env.read(r1, from_size), 0)
        )
    elif to_size:
        ret = csum_partial(env.read(r3, to_size), ret)
    elif from_size:
        ret = ~csum_partial(env.read(r1, from_size), ~ret & M32) & M32
    return csum_from32to16(ret)
