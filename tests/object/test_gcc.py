"""Objects from GNU's BPF back end (bpf-gcc 12): same programs and linking as from clang/zig."""

from __future__ import annotations

from pathlib import Path

from pybpf.isa.opcodes import CALL
from pybpf.object import load_file

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"


def test_gcc_sections_match_zig() -> None:
    gcc = load_file(OBJECTS / "gcc" / "sections.o").programs
    zig = load_file(OBJECTS / "sections.o").programs
    assert set(gcc) == set(zig)
    for name, prog in gcc.items():
        other = zig[name]
        assert (prog.section, prog.type, prog.attach_type, prog.attach_to) == (
            other.section, other.type, other.attach_type, other.attach_to)


def test_gcc_calls_are_linked() -> None:
    spec = load_file(OBJECTS / "gcc" / "calls.o")
    assert set(spec.programs) == {"caller", "other"}
    caller = spec.programs["caller"]
    assert not caller.func_infos  # gcc 12 writes no .BTF.ext
    pc, targets = 0, []
    for insn in caller.instructions:
        if insn.opcode == CALL and insn.src == 1:
            targets.append(pc + insn.imm + 1)
        pc += insn.slots
    assert len(targets) == 4 and all(0 < t < pc for t in targets)


def test_gcc_calls_run_like_zig() -> None:
    from pybpf.engines import Runtime

    for path in (OBJECTS / "gcc" / "calls.o", OBJECTS / "calls.o"):
        col = Runtime(engine="interp", verify=False).load(load_file(path))
        # global_fn(64) = middle(64) + leaf(64) = 130 + 65; the bpf_loop callback adds 0+1+2+3.
        assert col.programs["caller"].run(bytes(64)).retval == 201
