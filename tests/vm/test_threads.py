"""Running one loaded program from several threads gives each thread its own correct results.

Runs of one collection are serialised (its memory model, stack and run state are shared), so a
result never comes from another thread's context and no fault is spurious.
"""

from __future__ import annotations

import threading

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.object.spec import CollectionSpec, ProgramSpec
from testlib import jit_program

# XDP: return the packet's byte 20 plus a loop over its byte 21 (enough work to interleave threads).
SOURCE = """
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 64
if r4 > r3 goto bad
r0 = *(u8 *)(r2 + 20)
r5 = *(u8 *)(r2 + 21)
loop:
if r5 == 0 goto out
r0 += 1
r5 += -1
goto loop
out:
exit
bad:
r0 = 0
exit
"""


def _spec() -> CollectionSpec:
    insns = tuple(assemble(SOURCE, syntax="llvm"))
    return CollectionSpec.single(ProgramSpec("count", insns, type=ProgramType.XDP))


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_threads_get_their_own_results(engine: str) -> None:
    runs = 300 if engine == "interp" else 3000
    wrong: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []
    with Runtime(engine, verify=False).load(_spec()) as coll:
        prog = coll.programs["count"]

        def worker(tid: int) -> None:
            try:
                for i in range(runs):
                    a, b = (tid * 37 + i) % 200, (i * 7 + tid) % 50
                    packet = bytes(20) + bytes([a, b]) + bytes(42)
                    got = prog.run(packet).retval
                    if got != a + b:
                        wrong.append((tid, i, got))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert not wrong, wrong[:5]


def test_jit_batches_from_threads_are_each_correct() -> None:
    with Runtime("jit", verify=False).load(_spec()) as coll:
        prog = jit_program(coll, "count")
        bad: list[str] = []
        errors: list[BaseException] = []

        def worker(tid: int) -> None:
            packets = [bytes(20) + bytes([(tid + i) % 250, 3]) + bytes(42) for i in range(500)]
            want = [(tid + i) % 250 + 3 for i in range(500)]
            try:
                for _ in range(20):
                    got = list(prog.run_batch(packets).retvals)
                    if got != want:
                        bad.append(f"thread {tid}: {sum(g != w for g, w in zip(got, want, strict=True))} wrong")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert not bad, bad[:4]


def test_a_bound_run_belongs_to_its_thread() -> None:
    from pybpf.errors import BpfError

    with Runtime("jit", verify=False).load(_spec()) as coll:
        prog = jit_program(coll, "count")
        packet = bytes(20) + bytes([5, 2]) + bytes(42)
        with prog.bind(packet) as bound:
            assert bound() == 7
            seen: list[object] = []

            def other() -> None:
                try:
                    seen.append(bound())
                except BpfError as exc:
                    seen.append(str(exc))

            t = threading.Thread(target=other)
            t.start()
            t.join()
            assert seen == ["a bound run may only be called by the thread that bound it"]
        # closed: another thread may run the program again
        results: list[int] = []
        t = threading.Thread(target=lambda: results.append(prog.run(packet).retval))
        t.start()
        t.join()
        assert results == [7]
