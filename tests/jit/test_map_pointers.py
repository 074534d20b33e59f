"""Map pointers on the JIT: arithmetic on one map's pointer never reaches another map (the
interpreter faults, so must the JIT), and the code cache's counters stay bounded."""

from __future__ import annotations

import gc

import pytest

from pybpf.abi import MapType
from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.isa import assemble
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec
from pybpf.vm.jit.compiler import cache_stats

LOOKUP_NEXT_MAP = """
    r1 = 0 ll
    r1 += {delta}
    r2 = 0
    *(u32 *)(r10 - 4) = r2
    r2 = r10
    r2 += -4
    call 1
    r0 = 7
    exit
"""


def _spec(delta: int) -> CollectionSpec:
    program = ProgramSpec(
        "p", tuple(assemble(LOOKUP_NEXT_MAP.format(delta=delta), syntax="llvm")),
        map_references=(MapReference(pc=0, map_name="a"),),
    )
    maps = {name: MapSpec(name, kind, 4, 8, 4) for name, kind in
            (("a", MapType.ARRAY), ("b", MapType.ARRAY), ("c", MapType.HASH))}
    return CollectionSpec(programs={"p": program}, maps=maps)


def _outcome(engine: str, delta: int) -> tuple[object, ...]:
    with Runtime(engine, verify=False).load(_spec(delta)) as coll:
        try:
            return ("ok", coll.programs["p"].run(b"").retval)
        except RuntimeFault as exc:
            return ("fault", exc.reason.split(" ", 1)[1], exc.pc)  # the address differs


@pytest.mark.parametrize("delta", [128, -128, 64, 8])
def test_arithmetic_on_a_map_pointer_faults_like_the_interpreter(delta: int) -> None:
    expected = _outcome("interp", delta)
    assert expected[0] == "fault"
    assert _outcome("jit", delta) == expected


def test_the_map_pointer_itself_still_works() -> None:
    assert _outcome("jit", 0) == _outcome("interp", 0) == ("ok", 7)


def test_compiled_code_is_bounded_after_collections_close(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBPF_JIT_CACHE_ENTRIES", "3")
    gc.collect()
    before = cache_stats()["resident"]
    for i in range(12):  # distinct programs: each one compiles
        spec = ProgramSpec("p", tuple(assemble(f"r0 = {1000 + i}\nexit", syntax="llvm")))
        with Runtime("jit", verify=False).load(spec) as coll:
            assert coll.programs["p"].run(b"").retval == 1000 + i
        del coll
    gc.collect()
    stats = cache_stats()
    assert stats["entries"] <= 3
    # what the cache keeps, plus nothing for the closed collections
    assert stats["resident"] - before <= 3
