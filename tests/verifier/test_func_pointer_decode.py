"""`lddw rX, func` (BPF_PSEUDO_FUNC) decoded once, by isa.instruction.func_pointer_target (issue 21).

The target is pc + 1 + the signed low 32 bits of imm; the kernel never looks at insn[1].imm of such
a load, so a backward reference written across the whole 64-bit immediate (insn[1].imm = -1) is
accepted and runs. The verifier's CFG, its lddw handler, the kernel engine's synthetic func_info and
both user-space engines read it the same way.
"""

from __future__ import annotations

import sys

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.isa.instruction import encode
from pybpf.object.spec import CollectionSpec, ProgramSpec
from pybpf.verifier import verify
from testlib import ROOT

sys.path.insert(0, str(ROOT / "tools"))

from verifier_agreement import with_static_funcs  # noqa: E402

# the callback (slot 2) sits before the sub-program that hands it to bpf_loop; it counts to r1
TEXT = """
    call sub
    exit
cb:
    r0 = *(u64 *)(r2 + 0)
    r0 += 1
    *(u64 *)(r2 + 0) = r0
    r0 = 0
    exit
sub:
    *(u64 *)(r10 - 8) = 0
    r1 = 4
    r2 = func(cb)
    r3 = r10
    r3 += -8
    r4 = 0
    call 181
    r0 = *(u64 *)(r10 - 8)
    exit
"""


def _spec() -> CollectionSpec:
    insns = list(assemble(TEXT, syntax="llvm"))
    i = next(k for k, insn in enumerate(insns) if insn.opcode == 0x18 and insn.src == 4)
    insns[i] = insns[i].replace(imm=insns[i].imm - (1 << 32))  # sign-extend the offset over 64 bits
    assert encode([insns[i]])[12:16] == b"\xff" * 4
    # with func_info (one static FUNC per sub-program) as the kernel wants for callbacks
    prog = with_static_funcs(ProgramSpec("p", tuple(insns), type=ProgramType.XDP))
    return CollectionSpec(programs={"p": prog}, btf=prog.btf)


def test_verifier_follows_a_sign_extended_backward_reference() -> None:
    result = verify(_spec().programs["p"])
    assert result.accepted


@pytest.mark.parametrize("engine", ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_engines_run_it_verified(engine: str) -> None:
    with Runtime(engine).load(_spec()) as coll:  # pybpf's verifier first, then the engine
        assert coll.programs["p"].run(bytes(64)).retval == 4
