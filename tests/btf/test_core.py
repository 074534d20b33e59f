"""CO-RE relocations of objects compiled with ziglang, resolved against this machine's kernel BTF."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.abi import MapType
from pybpf.btf import Btf, CoreReloKind, Kind, load_vmlinux
from pybpf.btf.core import POISON_IMM, CoreError, apply_relocations, essential_name, patch, resolve
from pybpf.isa.opcodes import LDDW
from pybpf.object import load_file

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
needs_vmlinux = pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux on this machine")
K = CoreReloKind


def _programs():
    return load_file(OBJECTS / "core.o").programs


def _member(btf: Btf, struct_name: str, member: str) -> tuple[int, int, int]:
    """(bit offset, bitfield size, byte size) of a member, found by walking the kernel's struct by hand."""
    t = btf.find(struct_name, Kind.STRUCT)
    assert t is not None
    for m in t.members:
        if m.name == member:
            return m.bit_offset, m.bitfield_size, btf.sizeof(m.type_id)
    raise AssertionError(f"{struct_name}.{member} not found")


def _by_access(results, kind):
    return [r for r in results if r.kind == kind]


def test_essential_name() -> None:
    assert essential_name("task_struct___old") == "task_struct"
    assert essential_name("task_struct") == "task_struct"
    assert essential_name("___x") == "___x"


@needs_vmlinux
def test_field_relocations_against_kernel() -> None:
    vmlinux = load_vmlinux()
    results = resolve(_programs()["core_fields"])
    pid_off = _member(vmlinux, "task_struct", "pid")[0] // 8
    tgid_off = _member(vmlinux, "task_struct", "tgid")[0] // 8
    comm_off, _, comm_size = _member(vmlinux, "task_struct", "comm")
    parent_off = _member(vmlinux, "task_struct", "real_parent")[0] // 8
    offsets = {r.access_str: r.target_value for r in _by_access(results, K.FIELD_BYTE_OFFSET)}
    assert offsets == {"0:0": pid_off, "0:1": tgid_off, "0:2": comm_off // 8, "0:3": parent_off,
                       "0:2:3": comm_off // 8 + 3}
    local = {r.access_str: r.local_value for r in _by_access(results, K.FIELD_BYTE_OFFSET)}
    assert local == {"0:0": 0, "0:1": 4, "0:2": 8, "0:3": 24, "0:2:3": 11}  # the local layout in core.c
    assert [r.target_value for r in _by_access(results, K.FIELD_BYTE_SIZE)] == [comm_size]
    exists = sorted((r.access_str, r.target_value) for r in _by_access(results, K.FIELD_EXISTS))
    assert exists == [("0:0", 0), ("0:1", 1)]  # not_in_kernel is missing, pid exists
    assert [r.target_value for r in _by_access(results, K.FIELD_SIGNED)] == [1]  # pid_t is signed


@needs_vmlinux
def test_bitfield_relocations_against_kernel() -> None:
    vmlinux = load_vmlinux()
    v_bit, v_size, _ = _member(vmlinux, "iphdr", "version")
    i_bit, i_size, _ = _member(vmlinux, "iphdr", "ihl")
    results = {(r.kind, r.access_str): r.target_value for r in resolve(_programs()["core_bitfields"])}
    # A u8 bitfield is loaded as one byte: shift left so its top bit is bit 63, then right to bit 0.
    assert results[(K.FIELD_BYTE_OFFSET, "0:1")] == v_bit // 8
    assert results[(K.FIELD_BYTE_SIZE, "0:1")] == 1
    assert results[(K.FIELD_LSHIFT_U64, "0:1")] == 64 - (v_bit % 8 + v_size)
    assert results[(K.FIELD_RSHIFT_U64, "0:1")] == 64 - v_size
    assert results[(K.FIELD_LSHIFT_U64, "0:0")] == 64 - (i_bit % 8 + i_size)
    assert results[(K.FIELD_SIGNED, "0:3")] == 0  # __be16 is unsigned
    assert results[(K.FIELD_BYTE_OFFSET, "0:3")] == _member(vmlinux, "iphdr", "tot_len")[0] // 8


@needs_vmlinux
def test_type_and_enum_relocations_against_kernel() -> None:
    from pybpf.kernel.vmlinux import vmlinux_index  # an independent minimal parser of the same file

    prog = _programs()["core_types"]
    results = resolve(prog)
    by: dict[K, list[int]] = {}
    for r in results:
        by.setdefault(r.kind, []).append(r.target_value)
    assert by[K.TYPE_EXISTS] == [1, 0]
    assert by[K.TYPE_SIZE] == [16]  # struct list_head: two pointers
    assert by[K.TYPE_ID_TARGET] == [vmlinux_index()[(int(Kind.STRUCT), "task_struct")]]
    local_task = prog.btf.find("task_struct", Kind.STRUCT)
    assert by[K.TYPE_ID_LOCAL] == [local_task.id]
    assert by[K.TYPE_MATCHES] == [1]
    assert by[K.ENUMVAL_EXISTS] == [1, 0]
    assert by[K.ENUMVAL_VALUE] == [int(MapType.RINGBUF), int(MapType.ARENA)]


@needs_vmlinux
def test_patched_instructions() -> None:
    vmlinux = load_vmlinux()
    prog = _programs()["core_read"]
    insns = apply_relocations(prog)
    load = insns[1]
    assert load.off == _member(vmlinux, "task_struct", "tgid")[0] // 8 and load.size == 4
    types = apply_relocations(_programs()["core_types"])
    imms = [i.imm for i in types if i.opcode == LDDW or (i.opcode & 7) in (4, 7) and i.dst == 2]
    assert imms[:3] == [1, 0, 16]


def test_self_resolution_is_identity() -> None:
    programs = _programs()
    for prog in (programs["core_bitfields"], programs["core_read"]):
        for r in resolve(prog, target_btf=prog.btf):
            if r.kind in (K.FIELD_EXISTS, K.TYPE_EXISTS, K.ENUMVAL_EXISTS):
                continue
            assert r.target_value == r.local_value, (prog.name, r)
    for prog in (programs["core_read"],):
        # (bitfield relocations are not validated against the compiler's values, as in libbpf)
        assert apply_relocations(prog, target_btf=prog.btf) == list(prog.instructions)


def test_ambiguous_candidates_are_an_error() -> None:
    # In the object's own BTF, task_struct and task_struct___old both have a compatible `pid`
    # at different offsets: libbpf refuses such a relocation, so do we.
    prog = _programs()["core_fields"]
    with pytest.raises(CoreError, match="ambiguous"):
        resolve(prog, target_btf=prog.btf)


def test_missing_target_poisons_or_zeroes() -> None:
    empty = Btf.parse(Btf.from_types([]).to_bytes())
    prog = _programs()["core_fields"]
    results = resolve(prog, target_btf=empty)
    for r in results:
        if r.kind == K.FIELD_EXISTS:
            assert r.target_value == 0 and not r.poison
        else:
            assert r.poison
    insns = patch(list(prog.instructions), results)
    assert sum(1 for i in insns if i.opcode == 0x85 and i.imm == POISON_IMM) >= 6
    assert sum(i.slots for i in insns) == sum(i.slots for i in prog.instructions)


def test_validation_of_compiled_value() -> None:
    prog = _programs()["core_read"]
    results = resolve(prog, target_btf=prog.btf)
    broken = list(prog.instructions)
    broken[1] = broken[1].replace(off=12)
    with pytest.raises(CoreError, match="unexpected insn #1"):
        patch(broken, results)
