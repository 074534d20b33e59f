"""The JIT's disk cache: entries are bound to their program by digest; foreign or damaged ones are recompiled."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from pybpf.isa import assemble
from pybpf.object.spec import CollectionSpec, ProgramSpec
from pybpf.runtime import Runtime
from pybpf.vm.jit.compiler import clear_cache, compile_program


def _run(text: str, cache: Path) -> int:
    spec = CollectionSpec.single(ProgramSpec("p", tuple(assemble(text, syntax="llvm"))))
    with Runtime("jit", verify=False, cache_dir=str(cache)).load(spec) as coll:
        return coll.programs["p"].run().retval


def _entry(text: str, cache: Path) -> Path:
    clear_cache()
    before = set(cache.glob("*.o"))
    compile_program(assemble(text, syntax="llvm"), cache_dir=cache)
    (new,) = set(cache.glob("*.o")) - before
    return new


def test_a_copied_entry_does_not_run_another_programs_code(tmp_path: Path) -> None:
    a = _entry("r0 = 1\nexit", tmp_path)
    b = _entry("r0 = 2\nexit", tmp_path)
    a.write_bytes(b.read_bytes())  # program B's object under program A's name
    clear_cache()
    again = compile_program(assemble("r0 = 1\nexit", syntax="llvm"), cache_dir=tmp_path)
    assert again.from_cache == ""  # refused and recompiled
    clear_cache()
    assert _run("r0 = 1\nexit", tmp_path) == 1
    assert _run("r0 = 2\nexit", tmp_path) == 2


@pytest.mark.parametrize("damage", ["truncate", "random", "flip", "empty"])
def test_damaged_entries_are_recompiled_not_loaded(tmp_path: Path, damage: str) -> None:
    text = "r0 = 41\nr0 += 1\nexit"
    path = _entry(text, tmp_path)
    data = path.read_bytes()
    rng = random.Random(damage)
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "random":
        path.write_bytes(rng.randbytes(len(data)))
    elif damage == "flip":
        spot = len(data) - 40
        path.write_bytes(data[:spot] + bytes([data[spot] ^ 0x55]) + data[spot + 1 :])
    else:
        path.write_bytes(b"")
    clear_cache()
    code = compile_program(assemble(text, syntax="llvm"), cache_dir=tmp_path)
    assert code.from_cache == ""
    clear_cache()
    assert compile_program(assemble(text, syntax="llvm"), cache_dir=tmp_path).from_cache == "disk"  # rewritten
    clear_cache()
    assert _run(text, tmp_path) == 42


def test_cache_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    _entry("r0 = 3\nexit", tmp_path)
    assert [p.suffix for p in tmp_path.iterdir()] == [".o"]
    assert all(os.path.getsize(p) > 0 for p in tmp_path.iterdir())


def test_in_process_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from pybpf.vm.jit import compiler

    monkeypatch.setenv("PYBPF_JIT_CACHE_ENTRIES", "3")
    clear_cache()
    codes = [compile_program(assemble(f"r0 = {i}\nexit", syntax="llvm")) for i in range(6)]
    assert len(compiler._CACHE) == 3
    assert set(compiler._CACHE) == {c.key for c in codes[3:]}
    # an evicted program still runs: a loaded program holds its own code
    spec = CollectionSpec.single(ProgramSpec("p", tuple(assemble("r0 = 0\nexit", syntax="llvm"))))
    with Runtime("jit", verify=False).load(spec) as coll:
        for i in range(6):
            compile_program(assemble(f"r0 = {100 + i}\nexit", syntax="llvm"))
        assert coll.programs["p"].run().retval == 0
    clear_cache()
