"""CO-RE: C programs whose field offsets are relocated against the running kernel's BTF."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybpf.errors import VerifierError
from pybpf.kernel.kernel_engine import load_collection
from pybpf.kernel.links import attach_auto
from testlib import scalar

pytestmark = pytest.mark.kernel
DATA = Path(__file__).parent / "data"


def _build(name: str) -> object:
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c

    try:
        return load_file(compile_c(DATA / name))
    except Exception as exc:  # noqa: BLE001 - no compiler here: skip with the reason
        pytest.skip(f"cannot build {name}: {exc}")


def test_core_reads_task_fields_at_kernel_offsets() -> None:
    spec = _build("core_task.c")
    assert spec.programs["core_task"].core_relos  # type: ignore[attr-defined]
    with load_collection(spec, globals={"target_pid": os.getpid()}) as coll:  # type: ignore[arg-type]
        with attach_auto(coll.programs["core_task"]):
            os.getppid()
        out = coll.maps["out"]
        assert int.from_bytes(scalar(out[0]), "little") == os.getpid()
        assert int.from_bytes(scalar(out[1]), "little") == os.getppid()


def test_unresolvable_core_relocation_is_explained() -> None:
    spec = _build("core_missing.c")
    with pytest.raises(VerifierError) as exc:
        load_collection(spec)  # type: ignore[arg-type]
    assert "CO-RE relocation could not be resolved" in exc.value.reason


def test_core_relocation_kinds_against_running_kernel() -> None:
    from pybpf.abi import MapType
    from pybpf.btf.types import Kind
    from pybpf.btf.vmlinux import load_vmlinux

    spec = _build("core_kinds.c")
    task = load_vmlinux().find("task_struct", Kind.STRUCT)
    assert task is not None
    pid = next(m for m in task.members if m.name == "pid")
    with load_collection(spec) as coll:  # type: ignore[arg-type]
        assert coll.programs["core_kinds"].run(bytes(64)).retval == 0
        got = [int.from_bytes(coll.maps["out"][i], "little") for i in range(8)]  # type: ignore[arg-type]
    assert got == [
        1,  # task_struct.pid exists
        0,  # a field this kernel does not have
        4,  # sizeof(pid)
        pid.bit_offset // 8,  # where this kernel puts it
        1,  # struct task_struct exists
        0,  # struct pybpf_no_such_struct does not
        int(MapType.RINGBUF),  # enum bpf_map_type's value, through a local flavour of the enum
        task.size,  # sizeof(struct task_struct) in this kernel
    ]
