"""Shared test helpers importable from any test module as `testlib` (never import `conftest`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from pybpf.abi import ProgramType
    from pybpf.collection import Collection
    from pybpf.kernel.kernel_engine import KernelCollection
    from pybpf.kernel.programs import KernelProgram
    from pybpf.object.spec import ProgramSpec
    from pybpf.vm.jit_engine import JitProgram

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PYBPF_SHARED", ROOT.parent / "shared"))
# PYBPF_FULL=1 (`make test-corpus`): the slow tests run their whole corpora, not the sample
FULL_CORPORA = os.environ.get("PYBPF_FULL", "") not in ("", "0")

T = TypeVar("T")


def sampled(items: Sequence[T], every: int) -> Sequence[T]:
    """Every `every`-th item of a slow test's corpus (seeds, cases), spread over all of it; the
    whole corpus with PYBPF_FULL=1. Keeps `make test-full` to about half an hour on 2 cores."""
    return items if FULL_CORPORA else items[::every]


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test when that folder is absent (a user's clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the external test data lives in ../shared (CI has it)")
    return path


def scalar(value: bytes | list[bytes] | None) -> bytes:
    """A map value that must be one value (not a per-CPU list, not absent): narrowed for the type checker."""
    assert isinstance(value, bytes), f"expected one value, got {value!r}"
    return value


def kernel_program(coll: Collection, name: str) -> KernelProgram:
    """The kernel engine's program `name` of `coll` (the type that has an fd to attach)."""
    from pybpf.kernel.programs import KernelProgram

    program = coll.programs[name]
    assert isinstance(program, KernelProgram), f"{name} is a {type(program).__name__}"
    return program


def jit_program(coll: Collection, name: str) -> JitProgram:
    """The JIT engine's program `name` of `coll` (the type with bind() and run_batch())."""
    from pybpf.vm.jit_engine import JitProgram

    program = coll.programs[name]
    assert isinstance(program, JitProgram), f"{name} is a {type(program).__name__}"
    return program


def per_cpu(value: bytes | list[bytes] | None) -> list[bytes]:
    """A per-CPU map value (one bytes per CPU): narrowed for the type checker."""
    assert isinstance(value, list), f"expected a per-CPU list, got {value!r}"
    return value


def kernel_collection(coll: Collection) -> KernelCollection:
    """`coll` as the kernel engine's collection (the type with attach_usdt and the kernel's maps)."""
    from pybpf.kernel.kernel_engine import KernelCollection

    assert isinstance(coll, KernelCollection), f"a {type(coll).__name__}"
    return coll


def zig_x86_64_freestanding(source: Path, out: Path, *flags: str) -> str:
    """`source` built by zig cc as a freestanding x86-64 executable (no libc to build): its path."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-none", "-nostdlib", *(flags or ("-static",)),
           "-O1", "-fno-stack-protector", "-o", str(out), str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return str(out)


def run_outcomes(engine: str, text: str, ptype: ProgramType, packets: list[bytes]) -> list[Any]:
    """What `run()` of the assembly `text` as a program of `ptype` gives on each packet, in one
    collection of `engine`: (r0, data_out, ctx_out, instructions), ("fault", pc, reason without
    the address, which differs between engines, access size) or ("error", message)."""
    from pybpf.engines import Runtime
    from pybpf.errors import BpfError, RuntimeFault
    from pybpf.isa import assemble
    from pybpf.object.spec import CollectionSpec, ProgramSpec

    spec = CollectionSpec.single(ProgramSpec("p", tuple(assemble(text, syntax="llvm")), type=ptype))
    out: list[Any] = []
    with Runtime(engine, verify=False).load(spec) as coll:
        prog = coll.programs["p"]
        for packet in packets:
            try:
                r = prog.run(packet)
                out.append((r.retval, r.data_out, r.ctx_out, r.instructions))
            except RuntimeFault as exc:
                out.append(("fault", exc.pc, exc.reason.split(" at 0x")[0], exc.size))
            except BpfError as exc:
                out.append(("error", str(exc)))
    return out


def xdp_asm_program(name: str, text: str, refs: tuple[str, ...] = ()) -> ProgramSpec:
    """The assembly `text` as a GPL XDP program; its lddw instructions load the maps `refs` by fd, in order."""
    from pybpf.abi import ProgramType
    from pybpf.isa import assemble
    from pybpf.isa.instruction import iter_slots
    from pybpf.object.spec import MapReference, ProgramSpec

    insns = assemble(text, syntax="llvm")
    lddw = [pc for pc, insn in iter_slots(insns) if insn.opcode == 0x18]
    references = tuple(MapReference(pc=pc, map_name=m, kind="fd") for pc, m in zip(lddw, refs, strict=True))
    return ProgramSpec(name, tuple(insns), type=ProgramType.XDP, map_references=references, license="GPL")
