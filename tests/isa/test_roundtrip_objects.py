"""Real-world programs (../shared/ebpf-samples ELF objects) survive disasm -> asm in both syntaxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.errors import BpfError
from pybpf.isa import assemble, disassemble, encode
from testlib import shared_path


def _helper_tables() -> tuple[dict[int, str], dict[str, int]]:
    from pybpf.helpers import HELPERS

    names = {helper_id: proto.full_name for helper_id, proto in HELPERS.items()}
    return names, {name: helper_id for helper_id, name in names.items()}


def _round_trip(objects: list[Path]) -> int:
    from pybpf.object import load_file

    names, ids = _helper_tables()
    checked = 0
    for path in objects:
        try:
            spec = load_file(path)
        except BpfError:
            continue  # malformed on purpose, or a layout the object loader refuses
        for program in spec.programs.values():
            code = encode(program.instructions)
            for syntax in ("llvm", "ubpf"):
                text = disassemble(program.instructions, syntax=syntax, helper_names=names)
                assert ".insn" not in text, (path.name, program.name)
                back = assemble(text, syntax=syntax, helper_ids=ids)
                assert encode(back) == code, (path.name, program.name, syntax)
            checked += 1
    return checked


def _objects() -> list[Path]:
    return sorted(shared_path("ebpf-samples").rglob("*.o"))


def test_sampled_objects_round_trip() -> None:
    objects = [p for p in _objects() if p.stat().st_size < 60_000][::4]
    assert _round_trip(objects) >= 10


@pytest.mark.slow
def test_every_object_round_trips() -> None:
    assert _round_trip(_objects()) >= 600
