"""The kernel's own verdict (the oracle for pybpf's verifier): accepted, message, insn, processed insns."""

from __future__ import annotations

import pytest

from pybpf.abi import MapType, ProgramType
from pybpf.isa.instruction import Instruction as I
from pybpf.kernel.verdict import kernel_verdict, kernel_verdicts
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

from .progs import EXIT, counter_collection, lddw, mov, ret

pytestmark = pytest.mark.kernel


def test_accepted_with_statistics() -> None:
    v = kernel_verdicts(counter_collection())["count"]
    assert v.accepted and v.message == "" and v.insn is None
    assert v.processed_insns is not None and v.processed_insns >= 10
    assert "processed" in v.log


def test_rejected_with_insn_and_kernel_message() -> None:
    # r0 = *(u64 *)(r1 + 0) with r1 = map value or null: the kernel wants the null check
    insns = (I(0x62, 10, 0, -4, 0), I(0xBF, 2, 10), I(0x07, 2, 0, 0, -4), lddw(1), I(0x85, 0, 0, 0, 1),
             I(0x79, 0, 0, 0, 0), EXIT)
    prog = ProgramSpec(name="nullderef", instructions=insns, type=ProgramType.XDP,
                       map_references=(MapReference(3, "m"),))
    spec = CollectionSpec(programs={"nullderef": prog}, maps={"m": MapSpec("m", MapType.HASH, 4, 8, 1)})
    v = kernel_verdict(spec)
    assert not v.accepted
    assert v.message == "R0 invalid mem access 'map_value_or_null'" and v.insn == 6
    assert v.as_dict()["insn"] == 6 and v.errno == 13  # EACCES


def test_program_type_for_typeless_programs() -> None:
    prog = ProgramSpec(name="raw", instructions=tuple(ret(1)))
    assert "has no program type" in kernel_verdict(prog).message
    assert kernel_verdict(prog, program_type=ProgramType.SOCKET_FILTER).accepted


def test_map_the_kernel_refuses() -> None:
    prog = ProgramSpec(name="p", instructions=(mov(0, 0), EXIT), type=ProgramType.XDP)
    spec = CollectionSpec(programs={"p": prog}, maps={"bad": MapSpec("bad", MapType.ARRAY, 8, 4, 1)})
    v = kernel_verdict(spec)
    assert not v.accepted and v.message.startswith("cannot create the maps") and v.errno == 22
