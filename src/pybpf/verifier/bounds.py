"""Scalar value ranges: a tnum plus signed/unsigned 64- and 32-bit bounds, with sound ALU ops."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from pybpf.verifier import tnum
from pybpf.verifier.tnum import MASK32, MASK64, Tnum

S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1


def s64(x: int) -> int:
    x &= MASK64
    return x - (1 << 64) if x >> 63 else x


def s32(x: int) -> int:
    x &= MASK32
    return x - (1 << 32) if x >> 31 else x


def _signed(x: int, width: int) -> int:
    return s64(x) if width == 64 else s32(x)


class Scalar(NamedTuple):  # a tuple: hashed and compared in C (the caches below look them up constantly)
    """A set of 64-bit values, described the way the kernel's bpf_reg_state describes scalars."""

    var: Tnum
    umin: int
    umax: int
    smin: int
    smax: int
    u32min: int
    u32max: int
    s32min: int
    s32max: int

    def is_const(self) -> bool:
        return self.var.mask == 0

    @property
    def value(self) -> int:
        """The constant (unsigned 64-bit) value; only meaningful when is_const()."""
        return self.var.value

    def is_const32(self) -> bool:
        return self.var.mask & MASK32 == 0

    def contains(self, x: int) -> bool:
        """Whether the concrete 64-bit value x (mod 2**64) is in the set."""
        x &= MASK64
        lo = x & MASK32
        return (
            self.var.contains(x)
            and self.umin <= x <= self.umax
            and self.smin <= s64(x) <= self.smax
            and self.u32min <= lo <= self.u32max
            and self.s32min <= s32(lo) <= self.s32max
        )

    def bounds(self, width: int, signed: bool) -> tuple[int, int]:
        if width == 64:
            return (self.smin, self.smax) if signed else (self.umin, self.umax)
        return (self.s32min, self.s32max) if signed else (self.u32min, self.u32max)

    def within(self, other: Scalar) -> bool:
        """Whether every value of self is in other (for state pruning)."""
        if self is other:  # (values are shared: the memoised operations return the same objects)
            return True
        outer, inner = other.var, self.var
        return (
            other.umin <= self.umin
            and self.umax <= other.umax
            and other.smin <= self.smin
            and self.smax <= other.smax
            and other.u32min <= self.u32min
            and self.u32max <= other.u32max
            and other.s32min <= self.s32min
            and self.s32max <= other.s32max
            and not inner.mask & ~outer.mask  # tnum.within, inline: this is the pruning hot path
            and (inner.value & ~outer.mask) == outer.value
        )

    def describe(self) -> str:
        """Kernel-log style text: a constant, or the interesting bounds."""
        if self.is_const():
            return str(s64(self.value))
        parts = []
        if self.smin != S64_MIN:
            parts.append(f"smin={self.smin}")
        if self.smax != S64_MAX:
            parts.append(f"smax={self.smax}")
        if self.umin != 0:
            parts.append(f"umin={self.umin}")
        if self.umax != MASK64:
            parts.append(f"umax={self.umax}")
        if self.s32min != S32_MIN:
            parts.append(f"smin32={self.s32min}")
        if self.s32max != S32_MAX:
            parts.append(f"smax32={self.s32max}")
        if self.u32min != 0:
            parts.append(f"umin32={self.u32min}")
        if self.u32max != MASK32:
            parts.append(f"umax32={self.u32max}")
        if self.var.mask != MASK64:
            parts.append(f"var_off={self.var}")
        return ",".join(parts)


UNKNOWN = Scalar(tnum.UNKNOWN, 0, MASK64, S64_MIN, S64_MAX, 0, MASK32, S32_MIN, S32_MAX)


@lru_cache(maxsize=4096)
def known(x: int) -> Scalar:
    x &= MASK64
    lo = x & MASK32
    return Scalar(tnum.const(x), x, x, s64(x), s64(x), lo, lo, s32(lo), s32(lo))


def unsigned_range(lo: int, hi: int) -> Scalar:
    """Every value in the unsigned 64-bit range [lo, hi]."""
    s = sync(Scalar(tnum.from_range(lo, hi), lo, hi, S64_MIN, S64_MAX, 0, MASK32, S32_MIN, S32_MAX))
    assert s is not None
    return s


def signed_range(lo: int, hi: int) -> Scalar:
    s = sync(Scalar(tnum.UNKNOWN, 0, MASK64, lo, hi, 0, MASK32, S32_MIN, S32_MAX))
    assert s is not None
    return s


@lru_cache(maxsize=1 << 16)  # pure, over immutable values, and hot
def zext32(s: Scalar) -> Scalar:
    """The low 32 bits of s, zero-extended to 64 bits (result of every ALU32 op)."""
    t = tnum.subreg(s.var)
    out = Scalar(t, s.u32min, s.u32max, s.u32min, s.u32max, s.u32min, s.u32max, s.s32min, s.s32max)
    return sync(out) or out


def _sign_cross(lo: int, hi: int, width: int) -> bool:
    """Whether the unsigned range [lo, hi] crosses the sign boundary of `width` bits."""
    return (lo >> (width - 1)) != (hi >> (width - 1))


@lru_cache(maxsize=1 << 16)
def sync(s: Scalar) -> Scalar | None:
    """Tighten every bound from the others (like reg_bounds_sync); None when the set is empty.

    Memoised: programs compute the same few ranges over and over, and a Scalar is immutable.
    """
    if s.var.mask == 0:  # a constant: consistent bounds collapse to it
        return known(s.var.value) if s.contains(s.var.value) else None
    var = s.var
    umin, umax, smin, smax = s.umin, s.umax, s.smin, s.smax
    u32min, u32max, s32min, s32max = s.u32min, s.u32max, s.s32min, s.s32max
    for _ in range(3):
        before = (var, umin, umax, smin, smax, u32min, u32max, s32min, s32max)
        # tnum -> bounds
        umin, umax = max(umin, var.value), min(umax, var.value | var.mask)
        smin, smax = max(smin, tnum.smin(var)), min(smax, tnum.smax(var))
        lo = tnum.subreg(var)
        u32min, u32max = max(u32min, lo.value), min(u32max, lo.value | lo.mask)
        s32min, s32max = max(s32min, tnum.smin(var, 32)), min(s32max, tnum.smax(var, 32))
        if umin > umax or smin > smax or u32min > u32max or s32min > s32max:
            return None
        # 64 -> 32 when the upper halves agree
        if umin >> 32 == umax >> 32:
            a, b = umin & MASK32, umax & MASK32
            u32min, u32max = max(u32min, a), min(u32max, b)
            if not _sign_cross(a, b, 32):
                s32min, s32max = max(s32min, s32(a)), min(s32max, s32(b))
        if (smin >> 32) == (smax >> 32):
            a, b = smin & MASK32, smax & MASK32
            if a <= b:
                u32min, u32max = max(u32min, a), min(u32max, b)
                if not _sign_cross(a, b, 32):
                    s32min, s32max = max(s32min, s32(a)), min(s32max, s32(b))
        # 32 -> 64 when the upper half is known
        if var.mask >> 32 == 0:
            hi = var.value & ~MASK32 & MASK64
            umin, umax = max(umin, hi | u32min), min(umax, hi | u32max)
        # signed <-> unsigned, both widths
        if smin >= 0 or smax < 0:
            umin, umax = max(umin, smin & MASK64), min(umax, smax & MASK64)
        if umin <= umax and not _sign_cross(umin, umax, 64):
            smin, smax = max(smin, s64(umin)), min(smax, s64(umax))
        if s32min >= 0 or s32max < 0:
            u32min, u32max = max(u32min, s32min & MASK32), min(u32max, s32max & MASK32)
        if u32min <= u32max and not _sign_cross(u32min, u32max, 32):
            s32min, s32max = max(s32min, s32(u32min)), min(s32max, s32(u32max))
        if umin > umax or smin > smax or u32min > u32max or s32min > s32max:
            return None
        # bounds -> tnum
        r64 = tnum.from_range(umin, umax)
        r32 = tnum.from_range(u32min, u32max)
        if not tnum.overlaps(var, r64) or not tnum.overlaps(tnum.subreg(var), r32):
            return None
        var = tnum.intersect(var, r64)
        var = tnum.with_subreg(var, tnum.intersect(tnum.subreg(var), r32))
        if before == (var, umin, umax, smin, smax, u32min, u32max, s32min, s32max):
            break
    return Scalar(var, umin, umax, smin, smax, u32min, u32max, s32min, s32max)


# ---- interval arithmetic on one width ---------------------------------------------------------

Interval = tuple[int, int]


def _full(width: int, signed: bool) -> Interval:
    if signed:
        return (-(1 << (width - 1)), (1 << (width - 1)) - 1)
    return (0, (1 << width) - 1)


def _fits(lo: int, hi: int, width: int, signed: bool) -> bool:
    flo, fhi = _full(width, signed)
    return flo <= lo and hi <= fhi


def _arith(op: str, a: Interval, b: Interval, width: int, signed: bool) -> Interval:
    if op == "add":
        lo, hi = a[0] + b[0], a[1] + b[1]
    elif op == "sub":
        lo, hi = a[0] - b[1], a[1] - b[0]
    elif op == "mul":
        corners = [x * y for x in a for y in b]
        lo, hi = min(corners), max(corners)
    else:
        return _full(width, signed)
    return (lo, hi) if _fits(lo, hi, width, signed) else _full(width, signed)


def _width_part(s: Scalar, width: int) -> tuple[Interval, Interval]:
    if width == 64:
        return (s.umin, s.umax), (s.smin, s.smax)
    return (s.u32min, s.u32max), (s.s32min, s.s32max)


def _bitwise_unsigned(op: str, a: Interval, b: Interval, t: Tnum, width: int) -> Interval:
    """Unsigned bounds of and/or/xor results; t is the result tnum restricted to `width` bits."""
    tlo, thi = t.value, t.value | t.mask
    if op == "and":
        return (tlo, min(a[1], b[1], thi))
    if op == "or":
        return (max(a[0], b[0], tlo), thi)
    return (tlo, thi)


def _compute(op: str, a: Scalar, b: Scalar, width: int, t: Tnum) -> tuple[Interval, Interval]:
    """(unsigned, signed) bounds of `a op b` computed on `width` bits; t is the result tnum."""
    au, as_ = _width_part(a, width)
    bu, bs = _width_part(b, width)
    tw = t if width == 64 else tnum.subreg(t)
    if op in ("add", "sub", "mul"):
        return _arith(op, au, bu, width, False), _arith(op, as_, bs, width, True)
    if op in ("and", "or", "xor"):
        u = _bitwise_unsigned(op, au, bu, tw, width)
        s = (_signed(u[0], width), _signed(u[1], width)) if not _sign_cross(*u, width) else _full(width, True)
        if op == "and" and as_[0] >= 0 and bs[0] >= 0:
            s = (0, min(as_[1], bs[1]))
        return u, s
    if op in ("lsh", "rsh", "arsh"):
        k = b.value & (width - 1)
        if op == "lsh":
            u = (au[0] << k, au[1] << k) if (au[1] << k) >> width == 0 else _full(width, False)
            return u, _full(width, True)
        if op == "rsh":
            return (au[0] >> k, au[1] >> k), _full(width, True)
        return _full(width, False), (as_[0] >> k, as_[1] >> k)
    return _full(width, False), _full(width, True)


_TNUM_OPS = {
    "add": tnum.add,
    "sub": tnum.sub,
    "mul": tnum.mul,
    "and": tnum.and_,
    "or": tnum.or_,
    "xor": tnum.xor,
}

_CONCRETE = {
    "add": lambda x, y, k: x + y,
    "sub": lambda x, y, k: x - y,
    "mul": lambda x, y, k: x * y,
    "and": lambda x, y, k: x & y,
    "or": lambda x, y, k: x | y,
    "xor": lambda x, y, k: x ^ y,
    "lsh": lambda x, y, k: x << k,
    "rsh": lambda x, y, k: x >> k,
    "arsh": lambda x, y, k: 0,
}

ALU_OPS = ("add", "sub", "mul", "div", "or", "and", "lsh", "rsh", "neg", "mod", "xor", "arsh", "sdiv", "smod")


@lru_cache(maxsize=1 << 16)  # pure, over immutable values, and hot
def alu(op: str, a: Scalar, b: Scalar, is64: bool) -> Scalar:
    """The set of results of `a op b` (ALU64 when is64, else ALU32 zero-extended).

    Follows the kernel's choices: division, modulo and negation give an unknown scalar, shifts are
    tracked only for a constant in-range shift amount, everything else by tnum and range arithmetic.
    """
    width = 64 if is64 else 32
    if a.var.mask == 0 and b.var.mask == 0 and op in _CONCRETE:
        k = b.var.value & (width - 1)
        m = MASK64 if is64 else MASK32
        x, y = a.var.value & m, b.var.value & m
        if op in ("lsh", "rsh", "arsh") and b.var.value >= width:
            return UNKNOWN if is64 else zext32(UNKNOWN)
        if op == "arsh":
            sx = s64(x) if is64 else s32(x)
            return known((sx >> k) & m)
        return known(_CONCRETE[op](x, y, k) & m)
    if op in ("lsh", "rsh", "arsh"):
        if not b.is_const() or b.value >= width:
            return UNKNOWN if is64 else zext32(UNKNOWN)
        k = b.value
        if is64:
            t = {"lsh": tnum.lshift, "rsh": tnum.rshift}.get(op)
            var = t(a.var, k) if t else tnum.arshift(a.var, k, 64)
        else:
            low = tnum.subreg(a.var)
            if op == "lsh":
                var = tnum.subreg(tnum.lshift(low, k))
            elif op == "rsh":
                var = tnum.rshift(low, k)
            else:
                var = tnum.arshift(low, k, 32)
    elif op in _TNUM_OPS:
        var = _TNUM_OPS[op](a.var, b.var)
    else:
        return UNKNOWN if is64 else zext32(UNKNOWN)
    if is64:
        u, s = _compute(op, a, b, 64, var)
        if op in ("lsh", "rsh", "arsh"):
            u32, s32_ = _full(32, False), _full(32, True)
        else:
            u32, s32_ = _compute(op, a, b, 32, var)
        out = Scalar(var, u[0], u[1], s[0], s[1], u32[0], u32[1], s32_[0], s32_[1])
        return sync(out) or UNKNOWN
    u32, s32_ = _compute(op, a, b, 32, var)
    var = tnum.subreg(var)
    out = Scalar(var, 0, MASK32, 0, MASK32, u32[0], u32[1], s32_[0], s32_[1])
    return zext32(sync(out) or zext32(UNKNOWN))


@lru_cache(maxsize=1 << 16)  # pure, over immutable values, and hot
def sign_extend(s: Scalar, bits: int, is64: bool) -> Scalar:
    """movsx: sign-extend the low `bits` bits of s to 64 (or 32, zero-extended) bits."""
    width = 64 if is64 else 32
    if s.is_const():
        v = s.value & ((1 << bits) - 1)
        if v >> (bits - 1):
            v -= 1 << bits
        return known(v) if is64 else known(v & MASK32)
    half = 1 << (bits - 1)
    if s.umax < half:
        return s if is64 else zext32(s)
    if width == 64:
        return signed_range(-half, half - 1)
    out = sync(Scalar(tnum.UNKNOWN, 0, MASK32, 0, MASK32, 0, MASK32, -half, half - 1))
    return out or zext32(UNKNOWN)


@lru_cache(maxsize=1 << 16)  # pure, over immutable values, and hot
def truncate(s: Scalar, size: int) -> Scalar:
    """The low `size` bytes of s, zero-extended (a narrow load or store of a known scalar)."""
    if size >= 8:
        return s
    bits = size * 8
    if s.umax >> bits == 0:
        return s
    var = tnum.cast(s.var, size)
    out = Scalar(var, 0, (1 << bits) - 1, 0, (1 << bits) - 1, 0, MASK32, S32_MIN, S32_MAX)
    return sync(out) or unsigned_range(0, (1 << bits) - 1)
