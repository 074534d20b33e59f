"""Soundness properties of tnum and scalar range arithmetic: every concrete result is in the abstract result."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.verifier import bounds, branch, tnum
from pybpf.verifier.bounds import MASK32, MASK64, Scalar, s32, s64

u64 = st.integers(0, MASK64)
settings.register_profile("verifier", max_examples=120, deadline=None)
settings.load_profile("verifier")


@st.composite
def tnum_and_member(draw: st.DrawFn) -> tuple[tnum.Tnum, int]:
    value, mask, pick = draw(u64), draw(st.sampled_from([0, 0xFF, 0xF0F0, MASK32, MASK64, 0x8000000000000001]) | u64), draw(u64)
    value &= ~mask
    return tnum.Tnum(value, mask), value | (pick & mask)


@st.composite
def scalar_and_member(draw: st.DrawFn) -> tuple[Scalar, int]:
    """A scalar built by the verifier's own constructors and refinements, with a value inside it."""
    x = draw(st.one_of(u64, st.integers(0, 300), st.integers(-300, 0).map(lambda v: v & MASK64)))
    kind = draw(st.sampled_from(["known", "urange", "srange", "tnum", "unknown"]))
    if kind == "known":
        return bounds.known(x), x
    if kind == "urange":
        lo, hi = sorted([x, draw(u64 | st.integers(0, 1000))])
        return bounds.unsigned_range(lo, hi), x if lo <= x <= hi else lo
    if kind == "srange":
        a, b = s64(x), s64(draw(u64 | st.integers(-1000, 1000)))
        lo, hi = min(a, b), max(a, b)
        return bounds.signed_range(lo, hi), x
    if kind == "tnum":
        t, m = draw(tnum_and_member())
        s = bounds.sync(
            Scalar(t, 0, MASK64, bounds.S64_MIN, bounds.S64_MAX, 0, MASK32, bounds.S32_MIN, bounds.S32_MAX)
        )
        assert s is not None
        return s, m
    return bounds.UNKNOWN, x


def concrete(op: str, a: int, b: int, is64: bool) -> int | None:
    width = 64 if is64 else 32
    m = MASK64 if is64 else MASK32
    a &= m
    b &= m
    if op == "add":
        r = a + b
    elif op == "sub":
        r = a - b
    elif op == "mul":
        r = a * b
    elif op == "and":
        r = a & b
    elif op == "or":
        r = a | b
    elif op == "xor":
        r = a ^ b
    elif op == "lsh":
        r = a << (b & (width - 1))
    elif op == "rsh":
        r = a >> (b & (width - 1))
    elif op == "arsh":
        sa = s64(a) if is64 else s32(a)
        r = sa >> (b & (width - 1))
    elif op == "div":
        r = a // b if b else 0
    elif op == "mod":
        r = a % b if b else a
    else:
        return None
    return r & m


@given(tnum_and_member(), tnum_and_member(), st.sampled_from(["add", "sub", "mul", "and", "or", "xor"]))
def test_tnum_binary_ops_are_sound(a: tuple[tnum.Tnum, int], b: tuple[tnum.Tnum, int], op: str) -> None:
    f = {"add": tnum.add, "sub": tnum.sub, "mul": tnum.mul, "and": tnum.and_, "or": tnum.or_, "xor": tnum.xor}[op]
    r = concrete(op, a[1], b[1], True)
    assert r is not None and f(a[0], b[0]).contains(r)


@given(tnum_and_member(), st.integers(0, 63))
def test_tnum_shifts_are_sound(a: tuple[tnum.Tnum, int], k: int) -> None:
    t, x = a
    assert tnum.lshift(t, k).contains((x << k) & MASK64)
    assert tnum.rshift(t, k).contains(x >> k)
    assert tnum.arshift(t, k).contains((s64(x) >> k) & MASK64)
    assert tnum.arshift(tnum.subreg(t), k & 31, 32).contains((s32(x) >> (k & 31)) & MASK32)


@given(u64, u64, u64)
def test_tnum_range_contains_range(lo: int, hi: int, pick: int) -> None:
    lo, hi = sorted([lo, hi])
    t = tnum.from_range(lo, hi)
    assert t.contains(lo) and t.contains(hi)
    assert t.contains(lo + pick % (hi - lo + 1))


@given(tnum_and_member(), tnum_and_member())
def test_tnum_intersect_union_within(a: tuple[tnum.Tnum, int], b: tuple[tnum.Tnum, int]) -> None:
    u = tnum.union(a[0], b[0])
    assert u.contains(a[1]) and u.contains(b[1])
    assert tnum.within(u, a[0]) and tnum.within(u, b[0])
    if a[0].contains(b[1]):
        assert tnum.overlaps(a[0], b[0]) and tnum.intersect(a[0], b[0]).contains(b[1])


def test_tnum_known_examples() -> None:
    assert tnum.add(tnum.const(3), tnum.const(4)) == tnum.const(7)
    assert tnum.and_(tnum.UNKNOWN, tnum.const(0xFF)) == tnum.Tnum(0, 0xFF)
    assert tnum.from_range(0, 7) == tnum.Tnum(0, 7)
    assert tnum.smin(tnum.Tnum(0, 0xFF)) == 0 and tnum.smax(tnum.Tnum(0, 0xFF)) == 255
    assert str(tnum.Tnum(0, 0xFF)) == "(0x0; 0xff)"


@given(scalar_and_member())
def test_scalar_constructors_contain_member(s: tuple[Scalar, int]) -> None:
    assert s[0].contains(s[1])


OPS = ["add", "sub", "mul", "and", "or", "xor", "lsh", "rsh", "arsh", "div", "mod"]


@given(scalar_and_member(), scalar_and_member(), st.sampled_from(OPS), st.booleans())
def test_alu_is_sound(a: tuple[Scalar, int], b: tuple[Scalar, int], op: str, is64: bool) -> None:
    r = concrete(op, a[1], b[1], is64)
    assert r is not None
    assert bounds.alu(op, a[0], b[0], is64).contains(r)


@given(scalar_and_member(), st.sampled_from([8, 16, 32]), st.booleans())
def test_sign_extend_is_sound(a: tuple[Scalar, int], bits: int, is64: bool) -> None:
    v = a[1] & ((1 << bits) - 1)
    if v >> (bits - 1):
        v -= 1 << bits
    expect = v & (MASK64 if is64 else MASK32)
    assert bounds.sign_extend(a[0], bits, is64).contains(expect)


@given(scalar_and_member(), st.sampled_from([1, 2, 4, 8]))
def test_truncate_is_sound(a: tuple[Scalar, int], size: int) -> None:
    assert bounds.truncate(a[0], size).contains(a[1] & ((1 << (size * 8)) - 1))


CONDS = ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset", "jset_not"]


def holds(op: str, a: int, b: int, width: int) -> bool:
    m = MASK64 if width == 64 else MASK32
    a &= m
    b &= m
    sa, sb = (s64(a), s64(b)) if width == 64 else (s32(a), s32(b))
    return {
        "jeq": a == b,
        "jne": a != b,
        "jgt": a > b,
        "jge": a >= b,
        "jlt": a < b,
        "jle": a <= b,
        "jsgt": sa > sb,
        "jsge": sa >= sb,
        "jslt": sa < sb,
        "jsle": sa <= sb,
        "jset": bool(a & b),
        "jset_not": not a & b,
    }[op]


@given(scalar_and_member(), scalar_and_member(), st.sampled_from(CONDS), st.sampled_from([32, 64]))
def test_branch_decision_and_refinement_are_sound(
    a: tuple[Scalar, int], b: tuple[Scalar, int], op: str, width: int
) -> None:
    truth = holds(op, a[1], b[1], width)
    decided = branch.branch_taken(op, a[0], b[0], width)
    assert decided is None or decided == truth
    side = op if truth else branch.NEGATE[op]
    refined = branch.refine(side, a[0], b[0], width)
    assert refined is not None
    assert refined[0].contains(a[1]) and refined[1].contains(b[1])


def test_refinement_narrows_ranges() -> None:
    x = bounds.UNKNOWN
    r = branch.refine("jlt", x, bounds.known(16), 64)
    assert r is not None and r[0].umax == 15 and r[0].smin == 0
    r = branch.refine("jsgt", x, bounds.known(-1 & MASK64), 64)
    assert r is not None and r[0].smin == 0
    assert branch.branch_taken("jgt", bounds.unsigned_range(5, 9), bounds.known(4), 64) is True
    assert branch.branch_taken("jeq", bounds.unsigned_range(5, 9), bounds.known(4), 64) is False
