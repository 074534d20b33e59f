"""Conditional jumps on scalars: whether a branch is decided, and how it narrows both operands."""

from __future__ import annotations

from functools import lru_cache

from pybpf.verifier import tnum
from pybpf.verifier.bounds import MASK32, MASK64, S32_MAX, S32_MIN, S64_MAX, S64_MIN, Scalar, sync

# Jump conditions by name; "jset_not" is the false side of jset.
NEGATE = {
    "jeq": "jne",
    "jne": "jeq",
    "jgt": "jle",
    "jle": "jgt",
    "jge": "jlt",
    "jlt": "jge",
    "jsgt": "jsle",
    "jsle": "jsgt",
    "jsge": "jslt",
    "jslt": "jsge",
    "jset": "jset_not",
    "jset_not": "jset",
}
# a op b  <=>  b SWAP[op] a
SWAP = {
    "jeq": "jeq",
    "jne": "jne",
    "jgt": "jlt",
    "jlt": "jgt",
    "jge": "jle",
    "jle": "jge",
    "jsgt": "jslt",
    "jslt": "jsgt",
    "jsge": "jsle",
    "jsle": "jsge",
}


def _is_const(s: Scalar, width: int) -> bool:
    return s.is_const() if width == 64 else s.is_const32()


def _const(s: Scalar, width: int) -> int:
    return s.value if width == 64 else s.value & MASK32


def _tn(s: Scalar, width: int) -> tnum.Tnum:
    return s.var if width == 64 else tnum.subreg(s.var)


@lru_cache(maxsize=1 << 16)  # pure, over immutable values, and hot
def branch_taken(op: str, a: Scalar, b: Scalar, width: int) -> bool | None:
    """True/False when `a op b` is decided for every value of the operands, else None."""
    if op == "jset":
        if not _is_const(b, width):
            a, b = b, a
        if not _is_const(b, width):
            return None
        val = _const(b, width)
        t = _tn(a, width)
        if t.value & val:
            return True
        if not ((t.value | t.mask) & val):
            return False
        return None
    if op == "jset_not":
        r = branch_taken("jset", a, b, width)
        return None if r is None else not r
    au, bu = a.bounds(width, False), b.bounds(width, False)
    as_, bs = a.bounds(width, True), b.bounds(width, True)
    if op in ("jeq", "jne"):
        eq: bool | None = None
        if _is_const(a, width) and _is_const(b, width):
            eq = _const(a, width) == _const(b, width)
        elif (
            au[0] > bu[1]
            or au[1] < bu[0]
            or as_[0] > bs[1]
            or as_[1] < bs[0]
            or not tnum.overlaps(_tn(a, width), _tn(b, width))
        ):
            eq = False
        if eq is None:
            return None
        return eq if op == "jeq" else not eq
    signed = op.startswith("js")
    (alo, ahi), (blo, bhi) = (as_, bs) if signed else (au, bu)
    base = op[2:] if signed else op[1:]
    if base == "gt":
        return True if alo > bhi else False if ahi <= blo else None
    if base == "ge":
        return True if alo >= bhi else False if ahi < blo else None
    if base == "lt":
        return True if ahi < blo else False if alo >= bhi else None
    if base == "le":
        return True if ahi <= blo else False if alo > bhi else None
    return None


def _set(s: Scalar, width: int, signed: bool, lo: int, hi: int) -> Scalar:
    if width == 64:
        if signed:
            return Scalar(s.var, s.umin, s.umax, max(s.smin, lo), min(s.smax, hi), *_r32(s))
        return Scalar(s.var, max(s.umin, lo), min(s.umax, hi), s.smin, s.smax, *_r32(s))
    if signed:
        return Scalar(s.var, *_r64(s), s.u32min, s.u32max, max(s.s32min, lo), min(s.s32max, hi))
    return Scalar(s.var, *_r64(s), max(s.u32min, lo), min(s.u32max, hi), s.s32min, s.s32max)


def _r32(s: Scalar) -> tuple[int, int, int, int]:
    return s.u32min, s.u32max, s.s32min, s.s32max


def _r64(s: Scalar) -> tuple[int, int, int, int]:
    return s.umin, s.umax, s.smin, s.smax


def _with_tnum(s: Scalar, width: int, t: tnum.Tnum) -> Scalar | None:
    if width == 64:
        if not tnum.overlaps(s.var, t):
            return None
        return Scalar(tnum.intersect(s.var, t), *_r64(s), *_r32(s))
    low = tnum.subreg(s.var)
    if not tnum.overlaps(low, t):
        return None
    return Scalar(tnum.with_subreg(s.var, tnum.intersect(low, t)), *_r64(s), *_r32(s))


@lru_cache(maxsize=1 << 16)  # pure, over immutable values, and hot
def refine(op: str, a: Scalar, b: Scalar, width: int) -> tuple[Scalar, Scalar] | None:
    """Both operands narrowed by assuming `a op b` holds; None when it cannot hold."""
    if op == "jeq":
        na: Scalar | None = a
        nb: Scalar | None = b
        for signed in (False, True):
            lo = max(a.bounds(width, signed)[0], b.bounds(width, signed)[0])
            hi = min(a.bounds(width, signed)[1], b.bounds(width, signed)[1])
            if lo > hi:
                return None
            assert na is not None and nb is not None
            na, nb = _set(na, width, signed, lo, hi), _set(nb, width, signed, lo, hi)
        assert na is not None and nb is not None
        ta, tb = _tn(a, width), _tn(b, width)
        if not tnum.overlaps(ta, tb):
            return None
        t = tnum.intersect(ta, tb)
        na, nb = _with_tnum(na, width, t), _with_tnum(nb, width, t)
    elif op == "jne":
        na, nb = a, b
        if _is_const(b, width):
            na = _exclude(a, width, _const(b, width))
        elif _is_const(a, width):
            nb = _exclude(b, width, _const(a, width))
    elif op in ("jset", "jset_not"):
        na, nb = a, b
        c, other, swapped = (b, a, False) if _is_const(b, width) else (a, b, True)
        if _is_const(c, width):
            val = _const(c, width)
            if op == "jset_not":
                mask = MASK64 if width == 64 else MASK32
                t = tnum.and_(_tn(other, width), tnum.const(~val & mask))
                refined = _with_tnum(other, width, t)
            elif val and val & (val - 1) == 0:
                refined = _with_tnum(other, width, tnum.or_(_tn(other, width), tnum.const(val)))
            else:
                refined = other
            if swapped:
                na, nb = a, refined
            else:
                na, nb = refined, b
    else:
        signed = op.startswith("js")
        base = op[2:] if signed else op[1:]
        (alo, ahi), (blo, bhi) = a.bounds(width, signed), b.bounds(width, signed)
        if base == "gt":
            alo, bhi = max(alo, blo + 1), min(bhi, ahi - 1)
        elif base == "ge":
            alo, bhi = max(alo, blo), min(bhi, ahi)
        elif base == "lt":
            ahi, blo = min(ahi, bhi - 1), max(blo, alo + 1)
        elif base == "le":
            ahi, blo = min(ahi, bhi), max(blo, alo)
        if alo > ahi or blo > bhi:
            return None
        na, nb = _set(a, width, signed, alo, ahi), _set(b, width, signed, blo, bhi)
    if na is None or nb is None:
        return None
    ra, rb = sync(na), sync(nb)
    if ra is None or rb is None:
        return None
    return ra, rb


def _exclude(s: Scalar, width: int, c: int) -> Scalar | None:
    """s without the value c at the edges of its ranges (what the kernel does for jne const)."""
    for signed in (False, True):
        lo, hi = s.bounds(width, signed)
        cv = c
        if signed:
            top = 64 if width == 64 else 32
            cv = c - (1 << top) if c >> (top - 1) else c
        if lo == hi == cv:
            return None
        if lo == cv:
            s = _set(s, width, signed, lo + 1, hi)
        elif hi == cv:
            s = _set(s, width, signed, lo, hi - 1)
    return s


__all__ = ["NEGATE", "SWAP", "branch_taken", "refine", "S64_MIN", "S64_MAX", "S32_MIN", "S32_MAX"]
