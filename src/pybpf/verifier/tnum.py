"""Tristate numbers (tnums): 64-bit values whose bits are each known-0, known-1 or unknown."""

from __future__ import annotations

from typing import NamedTuple

from pybpf.isa.opcodes import M32 as MASK32
from pybpf.isa.opcodes import M64 as MASK64


class Tnum(NamedTuple):  # a tuple: hashed and compared in C (the bounds caches look them up constantly)
    """A set of 64-bit values: bits set in `mask` are unknown, the others equal those of `value`."""

    value: int
    mask: int

    def is_const(self) -> bool:
        return self.mask == 0

    def contains(self, x: int) -> bool:
        """Whether the concrete value x (taken mod 2**64) is in the set."""
        return (x & MASK64 & ~self.mask) == self.value

    def __str__(self) -> str:
        return f"(0x{self.value:x}; 0x{self.mask:x})"


UNKNOWN = Tnum(0, MASK64)


def const(x: int) -> Tnum:
    return Tnum(x & MASK64, 0)


def from_range(lo: int, hi: int) -> Tnum:
    """The smallest tnum containing every value of the unsigned range [lo, hi]."""
    chi = lo ^ hi
    if chi == 0:
        return const(lo)
    bits = chi.bit_length()
    if bits > 63:
        return UNKNOWN
    delta = (1 << bits) - 1
    return Tnum(lo & ~delta & MASK64, delta)


def add(a: Tnum, b: Tnum) -> Tnum:
    sm = (a.mask + b.mask) & MASK64
    sv = (a.value + b.value) & MASK64
    sigma = (sm + sv) & MASK64
    chi = sigma ^ sv
    mu = chi | a.mask | b.mask
    return Tnum(sv & ~mu & MASK64, mu)


def sub(a: Tnum, b: Tnum) -> Tnum:
    dv = (a.value - b.value) & MASK64
    alpha = (dv + a.mask) & MASK64
    beta = (dv - b.mask) & MASK64
    chi = alpha ^ beta
    mu = chi | a.mask | b.mask
    return Tnum(dv & ~mu & MASK64, mu)


def neg(a: Tnum) -> Tnum:
    return sub(const(0), a)


def and_(a: Tnum, b: Tnum) -> Tnum:
    alpha = a.value | a.mask
    beta = b.value | b.mask
    v = a.value & b.value
    return Tnum(v, alpha & beta & ~v & MASK64)


def or_(a: Tnum, b: Tnum) -> Tnum:
    v = a.value | b.value
    mu = a.mask | b.mask
    return Tnum(v, mu & ~v & MASK64)


def xor(a: Tnum, b: Tnum) -> Tnum:
    v = a.value ^ b.value
    mu = a.mask | b.mask
    return Tnum(v & ~mu & MASK64, mu)


def mul(a: Tnum, b: Tnum) -> Tnum:
    acc_v = (a.value * b.value) & MASK64
    acc = Tnum(0, 0)
    av, am = a.value, a.mask
    bv, bm = b.value, b.mask
    while av or am:
        if av & 1:
            acc = add(acc, Tnum(0, bm))
        elif am & 1:
            acc = add(acc, Tnum(0, (bv | bm) & MASK64))
        av >>= 1
        am >>= 1
        bv = (bv << 1) & MASK64
        bm = (bm << 1) & MASK64
    return add(const(acc_v), acc)


def lshift(a: Tnum, k: int) -> Tnum:
    return Tnum((a.value << k) & MASK64, (a.mask << k) & MASK64)


def rshift(a: Tnum, k: int) -> Tnum:
    return Tnum(a.value >> k, a.mask >> k)


def arshift(a: Tnum, k: int, width: int = 64) -> Tnum:
    """Arithmetic right shift of the low `width` bits (32 or 64); result zero-extended to 64 bits."""
    m = (1 << width) - 1

    def sar(x: int) -> int:
        x &= m
        if x >> (width - 1):
            x -= 1 << width
        return (x >> k) & m

    return Tnum(sar(a.value), sar(a.mask))


def intersect(a: Tnum, b: Tnum) -> Tnum:
    """Values in both sets (callers must check the sets overlap)."""
    v = a.value | b.value
    mu = a.mask & b.mask
    return Tnum(v & ~mu & MASK64, mu)


def union(a: Tnum, b: Tnum) -> Tnum:
    """The smallest tnum containing both sets."""
    mu = a.mask | b.mask | (a.value ^ b.value)
    return Tnum(a.value & ~mu & MASK64, mu)


def overlaps(a: Tnum, b: Tnum) -> bool:
    """Whether some value is in both sets."""
    return ((a.value ^ b.value) & ~(a.mask | b.mask) & MASK64) == 0


def within(outer: Tnum, inner: Tnum) -> bool:
    """Whether every value of `inner` is in `outer`."""
    if inner.mask & ~outer.mask:
        return False
    return (inner.value & ~outer.mask) == outer.value


def subreg(a: Tnum) -> Tnum:
    """The low 32 bits, zero-extended."""
    return Tnum(a.value & MASK32, a.mask & MASK32)


def clear_subreg(a: Tnum) -> Tnum:
    return Tnum(a.value & ~MASK32 & MASK64, a.mask & ~MASK32 & MASK64)


def with_subreg(a: Tnum, low: Tnum) -> Tnum:
    """`a` with its low 32 bits replaced by those of `low`."""
    low = subreg(low)
    hi = clear_subreg(a)
    return Tnum(hi.value | low.value, hi.mask | low.mask)


def cast(a: Tnum, size: int) -> Tnum:
    """Truncate to `size` bytes (zero-extended)."""
    m = (1 << (size * 8)) - 1
    return Tnum(a.value & m, a.mask & m)


def umin(a: Tnum) -> int:
    return a.value


def umax(a: Tnum) -> int:
    return a.value | a.mask


def smin(a: Tnum, width: int = 64) -> int:
    """Smallest signed value (of the low `width` bits)."""
    m = (1 << width) - 1
    sign = 1 << (width - 1)
    v, mu = a.value & m, a.mask & m
    if mu & sign:
        x = (v | sign) & m  # sign unknown: set it, others known
    else:
        x = v
    return x - (1 << width) if x & sign else x


def smax(a: Tnum, width: int = 64) -> int:
    m = (1 << width) - 1
    sign = 1 << (width - 1)
    v, mu = a.value & m, a.mask & m
    x = (v | mu) & ~sign & m if mu & sign else (v | mu) & m
    return x - (1 << width) if x & sign else x
