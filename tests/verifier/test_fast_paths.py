"""The verifier's fast paths (ALU plans, scalar jumps, stack fills and spills) against its general checks.

Each fast path must leave exactly the state the general code leaves, or decline without changing
anything: the same instruction runs both ways on copies of one state and the results are compared.
"""

from __future__ import annotations

import itertools

import pytest

from pybpf.errors import VerifierError
from pybpf.isa.instruction import Instruction as I
from pybpf.verifier import alu, bounds, cfg, jumps, load_store
from pybpf.verifier.checker import Checker, _Path
from pybpf.verifier.state import NOT_INIT, Frame, Reg, RegType, Slot, State, const, scalar

OPS = {"add": 0x00, "sub": 0x10, "mul": 0x20, "or": 0x40, "and": 0x50, "lsh": 0x60, "rsh": 0x70, "xor": 0xA0,
       "mov": 0xB0, "arsh": 0xC0, "div": 0x30}
VALUES = [
    NOT_INIT,
    const(0),
    const(7),
    const(-1),
    scalar(bounds.unsigned_range(3, 1000)),
    scalar(bounds.signed_range(-1, 0)),  # (and/or fork it)
    scalar(bounds.UNKNOWN),
    scalar(bounds.unsigned_range(0, 0xFFFF)).with_id(5),
    Reg(RegType.PTR_TO_STACK, off=-16),
    Reg(RegType.PTR_TO_CTX),
    Reg(RegType.PTR_TO_PACKET, off=14, range=20, id=3),
    Reg(RegType.PTR_TO_MAP_VALUE, var=bounds.unsigned_range(0, 64), maybe_null=True),
    Reg(RegType.PTR_TO_MEM, var=bounds.unsigned_range(0, 64), off=(1 << 29) - 2),
]


def _state(r1: Reg, r2: Reg) -> State:
    regs = [const(1)] * 11
    regs[1], regs[2] = r1, r2
    regs[10] = Reg(RegType.PTR_TO_STACK)
    st = State([Frame(regs, {0: Slot("S" * 8, r2), 1: Slot("M" * 8, None)}, -1, 0, depth=64)], next_id=100)
    return st


def _checker(insns: list[I]) -> Checker:
    ck = Checker(insns=[*insns, I(0x95)])
    ck.prog = cfg.build(ck.insns)
    ck.cur_path = _Path(0, _state(NOT_INIT, NOT_INIT), None)
    ck.cur_work = []
    return ck


def _snapshot(st: State) -> tuple[object, ...]:
    f = st.frames[-1]
    return tuple(f.regs), dict(f.stack), st.next_id, set(st.written)


def _general(run: object, ck: Checker, st: State) -> object:
    try:
        run(ck, st)  # type: ignore[operator]
        return _snapshot(st)
    except VerifierError as exc:
        return exc.reason


ALU_CASES = [
    (cls | op | src, imm)
    for cls in (0x07, 0x04)
    for op in OPS.values()
    for src, imm in ((0x00, 5), (0x00, -3), (0x00, 40), (0x00, (1 << 29) - 1), (0x08, 0))
]


@pytest.mark.parametrize(("opcode", "imm"), ALU_CASES)
@pytest.mark.parametrize("privileged", [True, False])
def test_alu_plan_matches_alu(opcode: int, imm: int, privileged: bool) -> None:
    insn = I(opcode, 1, 2 if opcode & 0x08 else 0, 0, imm)
    plan = alu.plan(insn, privileged)
    for r1, r2 in itertools.product(VALUES, VALUES):
        want_st, got_st = _state(r1, r2), _state(r1, r2)
        ck = _checker([insn])
        ck.privileged = privileged
        want = _general(lambda c, s: alu.alu(c, 0, insn, s), ck, want_st)
        before = _snapshot(got_st)
        if plan is None or not alu.fast(plan, got_st):
            assert _snapshot(got_st) == before  # declined: nothing changed
            continue
        assert _snapshot(got_st) == want, (insn, r1, r2)


STACK_CASES = [(size_bits, off) for size_bits in (0x18, 0x00, 0x08, 0x10) for off in (-8, -16, -12, -4, -3, -520, -64, 0)]


@pytest.mark.parametrize(("size_bits", "off"), STACK_CASES)
@pytest.mark.parametrize("base", [10, 2])
def test_stack_loads_and_stores_match_load_store(size_bits: int, off: int, base: int) -> None:
    insns = [
        (I(0x61 | size_bits, 1, base, off, 0), lambda c, s, i: load_store.fill(c, 0, i, s), load_store.ldx),
        (I(0x63 | size_bits, base, 1, off, 0), lambda c, s, i: load_store.stack_store(c, 0, i, s), load_store.store),
        (I(0x62 | size_bits, base, 0, off, -5), lambda c, s, i: load_store.stack_store(c, 0, i, s), load_store.store),
    ]
    for r1, r2 in itertools.product(VALUES, VALUES):
        for insn, fast, general in insns:
            want_st, got_st = _state(r1, r2), _state(r1, r2)
            ck_want, ck_got = _checker([insn]), _checker([insn])
            want = _general(lambda c, s, i=insn, g=general: g(c, 0, i, s), ck_want, want_st)
            before = _snapshot(got_st)
            try:
                done = fast(ck_got, got_st, insn)
            except VerifierError as exc:
                assert exc.reason == want
                continue
            if not done:
                assert _snapshot(got_st) == before
                continue
            assert _snapshot(got_st) == want, (insn, r1, r2)
            assert ck_got.note == ck_want.note


JUMP_CASES = [(cls | op | src, imm) for cls in (0x05, 0x06) for op in (0x10, 0x20, 0x50, 0xA0, 0x40, 0x60)
              for src, imm in ((0x00, 7), (0x00, -1), (0x08, 0))]


@pytest.mark.parametrize(("opcode", "imm"), JUMP_CASES)
def test_jump_plan_matches_general_checks(opcode: int, imm: int) -> None:
    insn = I(opcode, 1, 2 if opcode & 0x08 else 0, 1, imm)
    for r1, r2 in itertools.product(VALUES, VALUES):
        outcomes: list[object] = []
        for planned in (True, False):
            ck = _checker([insn, I(0xB7, 0, 0, 0, 0)])
            ck.jump_plans = [jumps.plan(insn) if planned else None, None, None]
            st = _state(r1, r2)
            work: list[_Path] = []
            try:
                nxt = jumps.cond_jump(ck, 0, insn, st, ck.cur_path, work)
                outcomes.append((nxt, _snapshot(st), [(p.pc, _snapshot(p.state)) for p in work], ck.note))
            except VerifierError as exc:
                outcomes.append(exc.reason)
        assert outcomes[0] == outcomes[1], (insn, r1, r2)
