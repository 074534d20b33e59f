"""A plain-context run on the caller's writable buffer (bytearray, writable memoryview, ctypes
array) shares it: the program reads and writes it in place, so no copy is made in or out, and the
buffer holds the output packet, or, after a fault, exactly the writes done before it, the same on
the interpreter and the JIT. An immutable input (bytes) is copied as before and left as it was."""

from __future__ import annotations

import ctypes

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.isa import assemble
from pybpf.object.spec import CollectionSpec, ProgramSpec

# r1 = data, r2 = its length. Write 0x11 at byte 0 and 0x22 at byte 3, then r0 = byte 1 + byte 2;
# a packet of 5 bytes or more also gets 0x33 at byte 4 and 0x44 at the byte past its end:
# out of bounds, a fault after three writes.
TEXT = """
r3 = 0x11
*(u8 *)(r1 + 0) = r3
r3 = 0x22
*(u8 *)(r1 + 3) = r3
r0 = *(u8 *)(r1 + 1)
r4 = *(u8 *)(r1 + 2)
r0 += r4
if r2 < 5 goto +5
r3 = 0x33
*(u8 *)(r1 + 4) = r3
r1 += r2
r3 = 0x44
*(u8 *)(r1 + 0) = r3
exit
"""

ENGINES = ["interp", "jit"]


def _spec(text: str = TEXT) -> CollectionSpec:
    insns = tuple(assemble(text, syntax="llvm"))
    return CollectionSpec.single(ProgramSpec("plain", insns, type=ProgramType.UNSPEC))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_bytearray_holds_the_output(engine: str) -> None:
    buffer = bytearray(b"\x00\x05\x07\x00")
    with Runtime(engine, verify=False).load(_spec()) as coll:
        result = coll.programs["plain"].run(buffer)
    assert result.retval == 12
    assert buffer == bytearray(b"\x11\x05\x07\x22")
    assert result.data_out is buffer  # shared, not copied


@pytest.mark.parametrize("engine", ENGINES)
def test_bytes_are_copied_and_left_alone(engine: str) -> None:
    data = b"\x00\x05\x07\x00"
    with Runtime(engine, verify=False).load(_spec()) as coll:
        result = coll.programs["plain"].run(data)
    assert (result.retval, result.data_out) == (12, b"\x11\x05\x07\x22")
    assert data == b"\x00\x05\x07\x00"
    assert type(result.data_out) is bytes


@pytest.mark.parametrize("engine", ENGINES)
def test_a_fault_leaves_the_writes_before_it(engine: str) -> None:
    buffer = bytearray(range(1, 9))
    with Runtime(engine, verify=False).load(_spec()) as coll:
        with pytest.raises(RuntimeFault) as fault:
            coll.programs["plain"].run(buffer)
    assert fault.value.pc == 12  # the store past the end
    assert buffer == bytearray(b"\x11\x02\x03\x22\x33\x06\x07\x08")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_fault_on_bytes_leaves_them_alone(engine: str) -> None:
    data = bytes(range(1, 9))
    with Runtime(engine, verify=False).load(_spec()) as coll:
        with pytest.raises(RuntimeFault):
            coll.programs["plain"].run(data)
        again = coll.programs["plain"].run(data[:4])  # the next run starts from its own input
    assert data == bytes(range(1, 9))
    assert (again.retval, again.data_out) == (5, b"\x11\x02\x03\x22")


@pytest.mark.parametrize("engine", ENGINES)
def test_writable_views_are_shared(engine: str) -> None:
    backing = bytearray(b"\xff\xff\x00\x05\x07\x00\xff")
    view = memoryview(backing)[2:6]
    array = (ctypes.c_ubyte * 4)(0, 1, 2, 0)
    with Runtime(engine, verify=False).load(_spec()) as coll:
        first = coll.programs["plain"].run(view)
        second = coll.programs["plain"].run(memoryview(array))
        read_only = coll.programs["plain"].run(memoryview(b"\x00\x05\x07\x00"))
    assert (first.retval, backing) == (12, bytearray(b"\xff\xff\x11\x05\x07\x22\xff"))
    assert (second.retval, bytes(array)) == (3, b"\x11\x01\x02\x22")
    assert (read_only.retval, read_only.data_out) == (12, b"\x11\x05\x07\x22")


@pytest.mark.parametrize("engine", ENGINES)
def test_repeat_runs_each_on_a_fresh_copy(engine: str) -> None:
    """repeat > 1 keeps 'each run on a fresh copy': the buffer is not shared then."""
    buffer = bytearray(b"\x00\x05\x07\x00")
    with Runtime(engine, verify=False).load(_spec()) as coll:
        result = coll.programs["plain"].run(buffer, repeat=3)
    assert (result.retval, result.data_out) == (12, b"\x11\x05\x07\x22")
    assert buffer == bytearray(b"\x00\x05\x07\x00")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_shared_bytearray_can_be_resized_after_the_run(engine: str) -> None:
    buffer = bytearray(b"\x00\x05\x07\x00")
    with Runtime(engine, verify=False).load(_spec()) as coll:
        coll.programs["plain"].run(buffer)
    buffer.extend(b"\x01")  # the run released its export of the buffer
    assert buffer == bytearray(b"\x11\x05\x07\x22\x01")


@pytest.mark.parametrize("engine", ENGINES)
def test_large_bytes_are_written_in_their_output_copy(engine: str) -> None:
    """A large immutable input is copied once, into the bytes object data_out becomes; the input,
    earlier outputs and the runs after a fault are left alone."""
    from pybpf.vm.contexts import OUTPUT_IN_PLACE_MIN

    size = OUTPUT_IN_PLACE_MIN + 3
    data = bytes([1, 5, 7, 1]) + bytes(size - 4)
    writes_only = TEXT.split("if r2")[0] + "exit"  # the first two writes and the sum, no fault
    with Runtime(engine, verify=False).load(_spec()) as faulty, \
            Runtime(engine, verify=False).load(_spec(writes_only)) as coll:
        with pytest.raises(RuntimeFault):
            faulty.programs["plain"].run(data)
        prog = coll.programs["plain"]
        first = prog.run(data)
        assert first.retval == 12 and first.data_out is not None
        assert first.data_out[:5] == b"\x11\x05\x07\x22\x00" and len(first.data_out) == size
        assert prog.run(data).data_out == first.data_out
        assert prog.run(bytes([9, 2, 3, 4])).data_out == b"\x11\x02\x03\x22"
        assert first.data_out[:4] == b"\x11\x05\x07\x22"  # not reused by the next runs
    assert data[:8] == bytes([1, 5, 7, 1, 0, 0, 0, 0]) and data.count(0) == size - 4
