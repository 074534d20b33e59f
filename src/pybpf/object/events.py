"""Which BTF type a ring buffer's or perf buffer's records have, found from the object alone.

First the map's own declaration (`__type(value, struct event)` on a ring buffer documents its
records); else the programs' output calls: the constant size passed to bpf_ringbuf_reserve,
bpf_ringbuf_output or bpf_perf_event_output for that map, matched to the one named struct of
that size in the object's BTF (a struct whose name says "event" wins a tie).
"""

from __future__ import annotations

from pybpf.abi import MapType
from pybpf.btf.types import Kind
from pybpf.isa.instruction import iter_slots
from pybpf.isa.opcodes import CALL, LDDW
from pybpf.object.spec import CollectionSpec, ProgramSpec

EVENT_MAPS = (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY)
MOV64_IMM, MOV32_IMM = 0xB7, 0xB4
# helper id -> (register holding the map, register holding the record size)
OUTPUT_CALLS = {
    131: (1, 2),  # bpf_ringbuf_reserve(map, size, flags)
    130: (1, 3),  # bpf_ringbuf_output(map, data, size, flags)
    25: (2, 5),  # bpf_perf_event_output(ctx, map, flags, data, size)
}


def output_sizes(prog: ProgramSpec) -> dict[str, set[int]]:
    """Map name -> record sizes the program passes to its output calls (constants only).

    A straight-line scan in program order: a register holds the last constant (or map) moved
    into it until another write or a call clobbers it; sizes computed at run time are skipped."""
    refs = {r.pc: r.map_name for r in prog.map_references if r.kind == "fd"}
    consts: dict[int, int] = {}
    maps: dict[int, str] = {}
    out: dict[str, set[int]] = {}
    for pc, insn in iter_slots(prog.instructions):
        if insn.opcode == CALL and insn.src == 0 and insn.imm in OUTPUT_CALLS:
            map_reg, size_reg = OUTPUT_CALLS[insn.imm]
            if map_reg in maps and size_reg in consts:
                out.setdefault(maps[map_reg], set()).add(consts[size_reg])
        if insn.opcode == CALL:
            for reg in range(6):
                consts.pop(reg, None)
                maps.pop(reg, None)
            continue
        if insn.opcode in (MOV64_IMM, MOV32_IMM):
            consts[insn.dst] = insn.imm
            maps.pop(insn.dst, None)
        elif insn.opcode == LDDW and pc in refs:
            maps[insn.dst] = refs[pc]
            consts.pop(insn.dst, None)
        elif insn.opcode & 0x07 in (0x04, 0x07, 0x01, 0x00) and insn.opcode != LDDW:
            consts.pop(insn.dst, None)  # ALU or load into dst: no longer the constant
            maps.pop(insn.dst, None)
    return out


def event_type_id(spec: CollectionSpec, map_name: str) -> int:
    """The BTF type id of `map_name`'s records, or 0 when the object does not say."""
    btf = spec.btf
    m = spec.maps.get(map_name)
    if btf is None or m is None or m.type not in EVENT_MAPS:
        return 0
    if m.type == MapType.RINGBUF and m.value_type_id:
        return m.value_type_id
    sizes: set[int] = set()
    for prog in spec.programs.values():
        sizes |= output_sizes(prog).get(map_name, set())
    if len(sizes) != 1:
        return 0
    (size,) = sizes
    candidates = [t for t in btf if t.kind == Kind.STRUCT and t.name and t.size == size]
    if len(candidates) > 1:
        candidates = [t for t in candidates if "event" in t.name] or candidates
    return candidates[0].id if len(candidates) == 1 else 0
