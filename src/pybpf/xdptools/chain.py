"""The XDP dispatcher's code: an entry program and a wrapper around every component program.

libxdp runs several XDP programs on one interface through a dispatcher whose stub functions are
replaced (freplace) by the components. Where freplace is refused, pybpf chains with tail calls:
each component is loaded inside a wrapper that calls it as a bpf-to-bpf function, looks its
slot up in the `xdp_chain` array (next slot, chain-call actions), and either returns the action
or tail-calls the next slot of the `xdp_progs` array. The entry program, attached to the
interface, tail-calls the head slot. Changing the set only rewrites `xdp_chain` and `xdp_progs`.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass

from pybpf.abi import AttachType, MapType, ProgramType
from pybpf.errors import LoadError
from pybpf.isa import assemble
from pybpf.isa.instruction import Instruction, iter_slots
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

MAX_PROGRAMS = 10        # as libxdp's dispatcher
ROOT = MAX_PROGRAMS      # xdp_chain entry whose `next` is the head of the chain
END = 0xFFFFFFFF         # `next` of the last program: the tail call fails, the packet passes
PIN_BY_NAME = 1
ACTIONS = {"aborted": 0, "drop": 1, "pass": 2, "tx": 3, "redirect": 4}
PSEUDO_CALL = 1
OP_CALL = 0x85

# struct slot { u32 next; u32 chain_mask; u32 in_use; u32 prog_id; s32 priority;
#               char name[16]; u32 order; }
SLOT = struct.Struct("<IIIIi16sI")

PROGS_MAP = MapSpec(name="xdp_progs", type=MapType.PROG_ARRAY, key_size=4, value_size=4,
                    max_entries=MAX_PROGRAMS, pinning=PIN_BY_NAME)
CHAIN_MAP = MapSpec(name="xdp_chain", type=MapType.ARRAY, key_size=4, value_size=SLOT.size,
                    max_entries=MAX_PROGRAMS + 1, pinning=PIN_BY_NAME)


@dataclass(frozen=True)
class SlotEntry:
    """One xdp_chain entry."""

    next: int = END
    chain_mask: int = 0
    in_use: bool = False
    prog_id: int = 0
    priority: int = 0
    name: str = ""
    order: int = 0

    def pack(self) -> bytes:
        return SLOT.pack(self.next, self.chain_mask, int(self.in_use), self.prog_id,
                         self.priority, self.name.encode()[:15], self.order)

    @classmethod
    def unpack(cls, raw: bytes) -> SlotEntry:
        nxt, mask, used, pid, prio, name, order = SLOT.unpack(raw)
        return cls(nxt, mask, bool(used), pid, prio, name.split(b"\0")[0].decode(errors="replace"),
                   order)

    @property
    def chain_actions(self) -> list[str]:
        return [name for name, bit in ACTIONS.items() if self.chain_mask >> bit & 1]


def chain_mask(actions: list[str]) -> int:
    mask = 0
    for action in actions:
        key = action.lower().removeprefix("xdp_")
        if key not in ACTIONS:
            raise LoadError(f"unknown XDP action {action!r} (use {', '.join(ACTIONS)})")
        mask |= 1 << ACTIONS[key]
    return mask


def _with_maps(text: str, names: dict[str, str]) -> tuple[tuple[Instruction, ...], tuple[MapReference, ...]]:
    """Assemble `text`; every `lddw rN, MAP` placeholder (written as lddw rN, 0 with a comment
    naming the map in `names` by register) becomes a map reference."""
    insns = tuple(assemble(text))
    refs = []
    for pc, insn in iter_slots(insns):
        if insn.is_wide and insn.imm == 0:
            refs.append(MapReference(pc=pc, map_name=names[f"r{insn.dst}"]))
    return insns, tuple(refs)


ENTRY = """
    mov r6, r1
    stw [r10-4], {root}
    lddw r1, 0
    mov r2, r10
    add r2, -4
    call 1
    jeq r0, 0, pass
    ldxw r3, [r0+0]
    mov r1, r6
    lddw r2, 0
    call 12
pass:
    mov r0, 2
    exit
"""

WRAPPER = """
    mov r6, r1
    call {component}
    mov r7, r0
    stw [r10-4], {slot}
    lddw r1, 0
    mov r2, r10
    add r2, -4
    call 1
    jeq r0, 0, pass
    jgt r7, 31, action
    ldxw r1, [r0+4]
    rsh r1, r7
    and r1, 1
    jeq r1, 0, action
    ldxw r3, [r0+0]
    mov r1, r6
    lddw r2, 0
    call 12
pass:
    mov r0, 2
    exit
action:
    mov r0, r7
    exit
"""


def entry_spec() -> CollectionSpec:
    """The dispatcher's entry program (attached to the interface) and its two maps."""
    insns, refs = _with_maps(ENTRY.format(root=ROOT), {"r1": "xdp_chain", "r2": "xdp_progs"})
    # the program array only takes programs that match its first user (type, expected
    # attach type): the entry program and every wrapper are XDP programs for BPF_XDP
    prog = ProgramSpec(name="xdp_dispatcher", instructions=insns, type=ProgramType.XDP,
                       attach_type=AttachType.XDP, license="GPL", map_references=refs)
    return CollectionSpec(programs={prog.name: prog},
                          maps={"xdp_chain": CHAIN_MAP, "xdp_progs": PROGS_MAP}, license="GPL")


def _wrapper(slot: int, component_at: int) -> tuple[tuple[Instruction, ...], tuple[MapReference, ...]]:
    text = WRAPPER.format(slot=slot, component="0")
    insns, refs = _with_maps(text, {"r1": "xdp_chain", "r2": "xdp_progs"})
    out = list(insns)
    # instruction 1 is the call to the component, placed right after the wrapper
    out[1] = Instruction(OP_CALL, src=PSEUDO_CALL, imm=component_at - 2)
    return tuple(out), refs


def wrap(component: ProgramSpec, maps: dict[str, MapSpec], slot: int) -> CollectionSpec:
    """`component` inside a wrapper for chain slot `slot`, with its maps and the chain maps."""
    if component.type != ProgramType.XDP:
        raise LoadError(f"program {component.name!r} is not an XDP program")
    if component.core_relos or component.extern_calls:
        raise LoadError(f"program {component.name!r} uses CO-RE relocations or kfuncs, which the "
                        "tail-call dispatcher cannot relocate")
    clash = {"xdp_chain", "xdp_progs"} & set(maps)
    if clash:
        raise LoadError(f"the object already has maps named {', '.join(sorted(clash))}")
    size = sum(i.slots for i in _wrapper(slot, 0)[0])
    insns, refs = _wrapper(slot, size)
    moved = tuple(dataclasses.replace(r, pc=r.pc + size) for r in component.map_references)
    wrapped = dataclasses.replace(
        component, instructions=insns + tuple(component.instructions),
        map_references=refs + moved, btf=None, func_infos=(), line_infos=(),
        attach_type=AttachType.XDP,
    )
    return CollectionSpec(programs={wrapped.name: wrapped},
                          maps={**maps, "xdp_chain": CHAIN_MAP, "xdp_progs": PROGS_MAP},
                          license=component.license)
