"""Differential test: random integer expressions compiled by pybpf and run in the kernel vs. a Python model."""

from __future__ import annotations

import io
import random

import pytest

pytestmark = pytest.mark.kernel
M64 = (1 << 64) - 1


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def model(op: str, a: int, b: int) -> int:
    """bpftrace semantics on signed 64-bit values as pybpf compiles them (BPF division rules)."""
    ua, ub = a & M64, b & M64
    if op == "+":
        return s64(a + b)
    if op == "-":
        return s64(a - b)
    if op == "*":
        return s64(a * b)
    if op == "/":
        return s64(ua // ub) if ub else 0
    if op == "%":
        return s64(ua % ub) if ub else a
    if op == "&":
        return s64(a & b)
    if op == "|":
        return s64(a | b)
    if op == "^":
        return s64(a ^ b)
    if op == "<<":
        return s64(a << (ub & 63))
    if op == ">>":
        return s64(a >> (ub & 63))  # both operands signed: arithmetic shift
    return int({"==": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b,
                "&&": bool(a) and bool(b), "||": bool(a) or bool(b)}[op])


OPS = ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", ">", "<=", ">=", "&&", "||"]
LITERALS = [0, 1, 2, 3, 7, -1, -5, 100, 65535, 1 << 31, -(1 << 31), 1 << 40, (1 << 63) - 1]


def expr(rng: random.Random, depth: int, env: dict[str, int]) -> tuple[str, int]:
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.4:
            name = rng.choice(sorted(env))
            return name, env[name]
        v = rng.choice(LITERALS) if rng.random() < 0.7 else rng.randint(-1000, 1000)
        return (f"({v})" if v < 0 else str(v)), v
    kind = rng.random()
    if kind < 0.1:
        text, v = expr(rng, depth - 1, env)
        op = rng.choice(["!", "~", "-"])
        return f"{op}({text})", {"!": int(not v), "~": s64(~v), "-": s64(-v)}[op]
    if kind < 0.2:
        c, cv = expr(rng, depth - 1, env)
        t, tv = expr(rng, depth - 1, env)
        f, fv = expr(rng, depth - 1, env)
        return f"(({c}) ? ({t}) : ({f}))", tv if cv else fv
    op = rng.choice(OPS)
    a, av = expr(rng, depth - 1, env)
    b, bv = expr(rng, depth - 1, env)
    if op in ("<<", ">>"):
        b, bv = str(rng.randint(0, 63)), 0
        bv = int(b)
    return f"(({a}) {op} ({b}))", model(op, av, bv)


@pytest.mark.parametrize("seed", range(6))
def test_random_expressions_match_the_model(seed: int) -> None:
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import TraceRun

    rng = random.Random(seed)
    env = {"$a": rng.randint(-100, 100), "$b": rng.choice(LITERALS), "$c": rng.randint(0, 1 << 40)}
    stmts = [f"{k} = {v if v >= 0 else f'({v})'};" for k, v in env.items()]
    expected = []
    for _ in range(25):
        text, value = expr(rng, 3, env)
        stmts.append(f'printf("%ld\\n", {text});')
        expected.append(str(value))
    script = "BEGIN { " + " ".join(stmts) + " exit(); }"
    out = io.StringIO()
    TraceRun(compile_script(script), out).run()
    lines = out.getvalue().splitlines()
    assert lines[1:1 + len(expected)] == expected, script
