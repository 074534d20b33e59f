"""The JIT engine against the interpreter engine: contexts, packet helpers, objects with maps."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.errors import LoadError, RuntimeFault

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"


def _load_context_cases():
    """The hand-written context programs of tests/vm/test_contexts.py (loaded by path)."""
    path = Path(__file__).resolve().parent.parent / "vm" / "test_contexts.py"
    spec = importlib.util.spec_from_file_location("_pybpf_vm_test_contexts", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CASES = _load_context_cases()
KERNEL_CASES = _CASES.KERNEL_CASES
run_on = _CASES.run_on


def _outcome(engine: str, text: str, ptype: ProgramType, data: bytes, ctx: bytes | None) -> object:
    try:
        r = run_on(engine, text, ptype, data, ctx)
    except RuntimeFault as exc:
        return ("fault", exc.reason, exc.pc)
    return r.retval, r.data_out, r.ctx_out


@pytest.mark.parametrize(("name", "text", "ptype", "data", "ctx"), KERNEL_CASES,
                         ids=[c[0] for c in KERNEL_CASES])
def test_context_cases_match_interpreter(
    name: str, text: str, ptype: ProgramType, data: bytes, ctx: bytes | None
) -> None:
    assert _outcome("jit", text, ptype, data, ctx) == _outcome("interp", text, ptype, data, ctx)


def _object_spec(name: str):
    from pybpf.object import load_file

    path = OBJECTS / name
    if not path.exists():
        pytest.skip(f"{path} is not built")
    return load_file(path)


def _dump(collection) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for name, m in collection.maps.items():
        if m.type.name in ("RINGBUF", "PERF_EVENT_ARRAY", "PROG_ARRAY"):
            continue
        if m.type.name in ("ARRAY_OF_MAPS", "HASH_OF_MAPS"):  # values are load-specific map ids
            out[name] = sorted(m.keys())
        else:
            out[name] = sorted(m.items())
    return out


@pytest.mark.parametrize("obj", ["xdp_counter.o", "calls.o", "legacy_maps.o", "map_in_map.o"])
def test_objects_match_interpreter(obj: str) -> None:
    spec = _object_spec(obj)
    packet = bytes(range(64))
    results = {}
    try:
        Runtime("interp", verify=False).load(spec).close()
    except LoadError as exc:
        pytest.skip(f"the interpreter cannot load {obj} yet: {exc}")
    for engine in ("interp", "jit"):
        with Runtime(engine, verify=False).load(spec) as coll:
            runs: list[tuple[str, int | str, bytes | str | None]] = []
            for name, prog in sorted(coll.programs.items()):
                for _ in range(3):
                    try:
                        r = prog.run(packet)
                        runs.append((name, r.retval, r.data_out))
                    except RuntimeFault as exc:
                        runs.append((name, "fault", exc.reason))
            results[engine] = (runs, _dump(coll))
    assert results["jit"] == results["interp"]
