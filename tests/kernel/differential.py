"""Tools for the kernel/interpreter differential suite: random ALU programs, packets, map snapshots."""

from __future__ import annotations

import random
import struct
from typing import Any

from pybpf.abi import MapType, ProgramType
from pybpf.isa.instruction import Instruction as I
from pybpf.object.spec import CollectionSpec, ProgramSpec

SPECIAL = [0, 1, 2, 0xFFFFFFFFFFFFFFFF, 0x8000000000000000, 0x7FFFFFFFFFFFFFFF, 0x80000000, 0x7FFFFFFF,
           0xFFFFFFFF, 0x100000000, 0xFFFF, 0x8000, 0xFF, 0x80, 63, 64, 31, 32]
ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0]
NREGS = 10  # r0..r9 hold values; r10 is the frame pointer


def _value(rng: random.Random) -> int:
    if rng.random() < 0.4:
        return rng.choice(SPECIAL)
    return rng.getrandbits(rng.choice((8, 16, 32, 64)))


def _imm(rng: random.Random) -> int:
    v = _value(rng) & 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def random_alu(rng: random.Random) -> I:
    """One random, verifier-acceptable ALU/ALU64 instruction on scalar registers r0..r9."""
    cls = rng.choice((0x04, 0x07))
    bits = 32 if cls == 0x04 else 64
    dst = rng.randrange(NREGS)
    r = rng.random()
    if r < 0.08:  # byte swaps: END (to le/be) and the ALU64 bswap
        width = rng.choice((16, 32, 64))
        return I(cls | 0xD0 | rng.choice((0x00, 0x08)) if cls == 0x04 else 0x07 | 0xD0, dst, 0, 0, width)
    if r < 0.14:  # movsx
        off = rng.choice((8, 16, 32) if cls == 0x07 else (8, 16))
        return I(cls | 0xB0 | 0x08, dst, rng.randrange(NREGS), off, 0)
    op = rng.choice(ALU_OPS)
    off = 1 if op in (0x30, 0x90) and rng.random() < 0.4 else 0  # sdiv / smod
    if op == 0x80:
        return I(cls | op, dst, 0, 0, 0)
    if rng.random() < 0.5:
        src = rng.randrange(NREGS)
        return I(cls | op | 0x08, dst, src, off, 0)
    imm = _imm(rng)
    if op in (0x60, 0x70, 0xC0):
        imm = rng.randrange(bits)
    elif op in (0x30, 0x90) and imm == 0:
        imm = rng.choice((1, -1, 7))
    return I(cls | op, dst, 0, off, imm)


def random_program(seed: int, length: int = 24) -> CollectionSpec:
    """Random values in r0..r9, `length` random ALU ops, then every register written into the packet.

    No maps are needed: the results come back as the XDP program's output packet (80 bytes).
    """
    rng = random.Random(seed)
    insns: list[I] = [I(0x61, 2, 1, 0, 0), I(0x61, 3, 1, 4, 0),  # data, data_end
                      I(0x7B, 10, 2, -88, 0), I(0x7B, 10, 3, -96, 0)]  # spill the packet pointers
    insns += [I(0x18, r, 0, 0, _value(rng)) for r in range(NREGS)]
    insns += [random_alu(rng) for _ in range(length)]
    insns += [I(0x7B, 10, r, -8 * (r + 1), 0) for r in range(NREGS)]  # spill r0..r9
    insns += [I(0x79, 2, 10, -88, 0), I(0x79, 3, 10, -96, 0), I(0xBF, 4, 2), I(0x07, 4, 0, 0, 8 * NREGS),
              I(0x2D, 4, 3, 2 * NREGS, 0)]  # if data + 80 > data_end skip the copy
    for r in range(NREGS):
        insns += [I(0x79, 1, 10, -8 * (r + 1), 0), I(0x7B, 2, 1, 8 * r, 0)]
    insns += [I(0x79, 0, 10, -8, 0), I(0x57, 0, 0, 0, 3), I(0x95)]  # return r0 & 3
    prog = ProgramSpec(name="alu", instructions=tuple(insns), type=ProgramType.XDP)
    return CollectionSpec(programs={"alu": prog})


def snapshot(coll: Any) -> dict[str, dict[bytes, Any]]:
    """Contents of every map that can be read from user space (event channels are left out)."""
    out = {}
    for name, m in coll.maps.items():
        if m.type in (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY, MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS,
                      MapType.HASH_OF_MAPS, MapType.USER_RINGBUF):
            continue
        out[name] = dict(m.items())
    return out


def _eth(proto: int) -> bytes:
    return bytes.fromhex("020000000002") + bytes.fromhex("020000000001") + struct.pack("!H", proto)


def _ipv4(proto: int, payload: bytes, ttl: int = 64, frag: int = 0) -> bytes:
    total = 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, frag, ttl, proto, 0,
                      bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return hdr + payload


def packets() -> list[bytes]:
    """A varied set of frames: UDP/TCP to several ports, ICMP, ARP, IPv6, fragments, runts."""
    out = []
    for port in (53, 80, 443, 8080, 9999):
        udp = struct.pack("!HHHH", 40000, port, 8 + 12, 0) + b"hello world!"
        out.append(_eth(0x0800) + _ipv4(17, udp))
        tcp = struct.pack("!HHIIBBHHH", 40001, port, 1, 0, 0x50, 0x02, 1024, 0, 0) + b"payload"
        out.append(_eth(0x0800) + _ipv4(6, tcp))
    out.append(_eth(0x0800) + _ipv4(1, bytes([8, 0, 0, 0, 0, 1, 0, 1]) + b"ping" * 4))
    out.append(_eth(0x0806) + bytes(28))
    out.append(_eth(0x86DD) + bytes([0x60]) + bytes(39) + bytes(8))
    out.append(_eth(0x0800) + _ipv4(17, struct.pack("!HHHH", 1, 53, 8, 0), frag=0x2001))
    out.append(_eth(0x0800) + bytes(10))  # truncated IPv4
    out.append(_eth(0x0800) + _ipv4(17, struct.pack("!HHHH", 1, 53, 8, 0), ttl=1))
    return out


JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0]
SIZES = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}  # BPF_B, BPF_H, BPF_W, BPF_DW
AREA = 64  # scratch stack bytes at r10 - 160 .. r10 - 97, zeroed first
AREA_BASE = -160
ATOMIC_OPS = [0x00, 0x40, 0x50, 0xA0]  # add, or, and, xor (| 0x01 = fetch); xchg 0xE1, cmpxchg 0xF1


def random_mem(rng: random.Random) -> I:
    """A random stack store, load, sign-extending load or atomic on the zeroed scratch area."""
    size = rng.choice((1, 2, 4, 8))
    off = AREA_BASE + rng.randrange(AREA // size) * size
    reg = rng.randrange(NREGS)
    kind = rng.random()
    if kind < 0.3:
        return I(0x63 | SIZES[size], 10, rng.randrange(NREGS), off, 0)  # stx
    if kind < 0.4:
        return I(0x62 | SIZES[size], 10, 0, off, _imm(rng))  # st imm
    if kind < 0.65:
        return I(0x61 | SIZES[size], reg, 10, off, 0)  # ldx (zero-extending)
    if kind < 0.75 and size != 8:
        return I(0x81 | SIZES[size], reg, 10, off, 0)  # ldsx (BPF_MEMSX)
    size = rng.choice((4, 8))
    off = AREA_BASE + rng.randrange(AREA // size) * size
    op = rng.choice(ATOMIC_OPS + [0xE1, 0xF1])
    if op in ATOMIC_OPS and rng.random() < 0.5:
        op |= 0x01
    return I(0xC3 | SIZES[size], 10, rng.randrange(NREGS), off, op)


def random_jump(rng: random.Random, room: int) -> I:
    """A forward conditional jump over at most `room` instructions."""
    cls = rng.choice((0x05, 0x06))
    op = rng.choice(JMP_OPS)
    target = rng.randrange(room + 1)
    if rng.random() < 0.5:
        return I(cls | op | 0x08, rng.randrange(NREGS), rng.randrange(NREGS), target, 0)
    return I(cls | op, rng.randrange(NREGS), 0, target, _imm(rng))


def random_mixed_program(seed: int, length: int = 40) -> CollectionSpec:
    """ALU, stack memory, atomics and forward jumps; registers and scratch area end up in the packet."""
    rng = random.Random(seed)
    insns: list[I] = [I(0x61, 2, 1, 0, 0), I(0x61, 3, 1, 4, 0), I(0x7B, 10, 2, -88, 0), I(0x7B, 10, 3, -96, 0)]
    insns += [I(0x7A, 10, 0, AREA_BASE + 8 * i, 0) for i in range(AREA // 8)]  # zero the scratch area
    insns += [I(0x18, r, 0, 0, _value(rng)) for r in range(NREGS)]
    body: list[I] = []
    for i in range(length):
        r = rng.random()
        if r < 0.15 and length - i > 1:
            body.append(random_jump(rng, length - i - 1))
        elif r < 0.45:
            body.append(random_mem(rng))
        else:
            body.append(random_alu(rng))
    insns += body
    insns += [I(0x7B, 10, r, -8 * (r + 1), 0) for r in range(NREGS)]
    out_size = 8 * NREGS + AREA
    insns += [I(0x79, 2, 10, -88, 0), I(0x79, 3, 10, -96, 0), I(0xBF, 4, 2), I(0x07, 4, 0, 0, out_size),
              I(0x2D, 4, 3, 2 * NREGS + 2 * (AREA // 8), 0)]
    for r in range(NREGS):
        insns += [I(0x79, 1, 10, -8 * (r + 1), 0), I(0x7B, 2, 1, 8 * r, 0)]
    for i in range(AREA // 8):
        insns += [I(0x79, 1, 10, AREA_BASE + 8 * i, 0), I(0x7B, 2, 1, 8 * NREGS + 8 * i, 0)]
    insns += [I(0x79, 0, 10, -8, 0), I(0x57, 0, 0, 0, 3), I(0x95)]
    prog = ProgramSpec(name="mixed", instructions=tuple(insns), type=ProgramType.XDP)
    return CollectionSpec(programs={"mixed": prog})


def map_semantics_program(map_type: MapType = MapType.HASH, max_entries: int = 4) -> CollectionSpec:
    """Helper return codes of map updates (ANY/NOEXIST/EXIST), deletes and lookups, recorded in `rc`.

    Each operation's r0 is stored (as a u64) in rc[i]; the map `m` itself is compared too.
    """
    insns: list[I] = []
    refs: list[Any] = []

    def pc() -> int:
        return sum(i.slots for i in insns)

    def load_map(reg: int, name: str) -> None:
        refs.append((pc(), name))
        insns.append(I(0x18, reg))

    def record(index: int) -> None:  # rc[index] = r0
        insns.extend([I(0x7B, 10, 0, -24, 0), I(0x62, 10, 0, -28, index)])
        load_map(1, "rc")
        insns.extend([I(0xBF, 2, 10), I(0x07, 2, 0, 0, -28), I(0xBF, 3, 10), I(0x07, 3, 0, 0, -24),
                      I(0xB7, 4, 0, 0, 0), I(0x85, 0, 0, 0, 2)])

    def key_at(key: int) -> None:
        insns.append(I(0x62, 10, 0, -4, key))

    index = 0
    plan = [(0, 0), (1, 1), (1, 1), (2, 2), (3, 0), (4, 1), (5, 0), (2, 1), (6, 2), (1, 2), (0, 0), (7, 0)]
    for key, flags in plan:  # updates
        key_at(key)
        insns.append(I(0x7A, 10, 0, -16, 100 + index))
        load_map(1, "m")
        insns.extend([I(0xBF, 2, 10), I(0x07, 2, 0, 0, -4), I(0xBF, 3, 10), I(0x07, 3, 0, 0, -16),
                      I(0xB7, 4, 0, 0, flags), I(0x85, 0, 0, 0, 2)])
        record(index)
        index += 1
    for key in (1, 9, 1, 3):  # deletes
        key_at(key)
        load_map(1, "m")
        insns.extend([I(0xBF, 2, 10), I(0x07, 2, 0, 0, -4), I(0x85, 0, 0, 0, 3)])
        record(index)
        index += 1
    for key in (0, 1, 2, 3, 4, 5, 6, 7):  # lookups: rc = value or -1 when absent
        key_at(key)
        load_map(1, "m")
        insns.extend([I(0xBF, 2, 10), I(0x07, 2, 0, 0, -4), I(0x85, 0, 0, 0, 1),
                      I(0x55, 0, 0, 2, 0), I(0xB7, 0, 0, 0, -1), I(0x05, 0, 0, 1, 0), I(0x79, 0, 0, 0, 0)])
        record(index)
        index += 1
    insns.extend([I(0xB7, 0, 0, 0, 2), I(0x95)])
    from pybpf.object.spec import MapReference

    prog = ProgramSpec(name="mapsem", instructions=tuple(insns), type=ProgramType.XDP,
                       map_references=tuple(MapReference(p, n) for p, n in refs))
    from pybpf.object.spec import MapSpec

    maps = {"m": MapSpec("m", map_type, 4, 8, max_entries), "rc": MapSpec("rc", MapType.ARRAY, 4, 8, 32)}
    return CollectionSpec(programs={"mapsem": prog}, maps=maps)


def xdp_adjust_program(helper: int, delta: int) -> CollectionSpec:
    """Call bpf_xdp_adjust_head (44) / adjust_tail (65) / adjust_meta (54) with `delta`, then write the
    helper's return value into the first 8 bytes of the (new) packet and return XDP_PASS."""
    insns = [
        I(0xBF, 6, 1),  # r6 = ctx
        I(0xB7, 2, 0, 0, delta),  # r2 = delta (sign-extended)
        I(0x85, 0, 0, 0, helper),
        I(0xBF, 7, 0),  # r7 = result
        I(0x61, 2, 6, 0, 0), I(0x61, 3, 6, 4, 0),  # reload data / data_end
        I(0xBF, 4, 2), I(0x07, 4, 0, 0, 8), I(0x2D, 4, 3, 1, 0),  # if data + 8 > data_end skip
        I(0x7B, 2, 7, 0, 0),  # *(u64 *)(data + 0) = result
        I(0xB7, 0, 0, 0, 2), I(0x95),
    ]
    prog = ProgramSpec(name="adjust", instructions=tuple(insns), type=ProgramType.XDP)
    return CollectionSpec(programs={"adjust": prog})


def skb_helper_program(helper: int, r2: int, r3: int | None, r4: int, r5: int) -> CollectionSpec:
    """A tc program calling `helper(skb, r2, r3, r4, r5)`; r3 None means a 16-byte stack buffer
    (pre-filled with 0xA0..0xAF). The return value and the buffer are stored in results[0]."""
    insns = [I(0xBF, 6, 1)]
    insns += [I(0x7A, 10, 0, -16, 0), I(0x7A, 10, 0, -8, 0)]
    for i in range(16):
        insns.append(I(0x72, 10, 0, -16 + i, 0xA0 + i))  # *(u8 *)(r10 - 16 + i) = 0xA0 + i
    insns += [I(0xBF, 1, 6), I(0xB7, 2, 0, 0, r2)]
    insns += [I(0xBF, 3, 10), I(0x07, 3, 0, 0, -16)] if r3 is None else [I(0xB7, 3, 0, 0, r3)]
    insns += [I(0xB7, 4, 0, 0, r4), I(0xB7, 5, 0, 0, r5), I(0x85, 0, 0, 0, helper)]
    insns += [I(0x7B, 10, 0, -24, 0)]  # spill the return value next to the buffer
    insns += [I(0x62, 10, 0, -28, 0), I(0xBF, 2, 10), I(0x07, 2, 0, 0, -28)]
    ref = sum(i.slots for i in insns)
    insns += [I(0x18, 1), I(0xBF, 3, 10), I(0x07, 3, 0, 0, -24), I(0xB7, 4, 0, 0, 0), I(0x85, 0, 0, 0, 2)]
    insns += [I(0xB7, 0, 0, 0, 0), I(0x95)]
    from pybpf.object.spec import MapReference, MapSpec

    prog = ProgramSpec(name="skbhelper", instructions=tuple(insns), type=ProgramType.SCHED_CLS,
                       map_references=(MapReference(ref, "results"),))
    return CollectionSpec(programs={"skbhelper": prog}, maps={"results": MapSpec("results", MapType.ARRAY, 4, 24, 1)})


def helper_harness(ptype: ProgramType, helper: int, args: list[I], extra_maps: dict[str, Any] | None = None,
                   arg_map: tuple[int, str] | None = None,
                   callback: tuple[int, list[I]] | None = None) -> CollectionSpec:
    """Call `helper` after `args` (instructions that set r1..r5; buffers A = r10-16 filled with
    0xA0.., B = r10-32 filled with 0xB0..); store r0 and both buffers in results[0] (40 bytes).
    With `arg_map` (register, map name) that register is loaded with the map before the call."""
    from pybpf.object.spec import MapReference, MapSpec

    insns = [I(0xBF, 6, 1)]
    for i in range(16):
        insns += [I(0x72, 10, 0, -16 + i, 0xA0 + i), I(0x72, 10, 0, -32 + i, 0xB0 + i)]
    insns += args
    refs = []
    if arg_map is not None:
        refs.append(MapReference(sum(i.slots for i in insns), arg_map[1]))
        insns.append(I(0x18, arg_map[0]))
    func_at = -1
    if callback is not None:  # lddw reg, <callback> (BPF_PSEUDO_FUNC); its imm is fixed up below
        func_at = len(insns)
        insns.append(I(0x18, callback[0], 4, 0, 0))
    insns += [I(0x85, 0, 0, 0, helper), I(0x7B, 10, 0, -40, 0)]
    insns += [I(0x62, 10, 0, -44, 0), I(0xBF, 2, 10), I(0x07, 2, 0, 0, -44)]
    refs.append(MapReference(sum(i.slots for i in insns), "results"))
    insns += [I(0x18, 1), I(0xBF, 3, 10), I(0x07, 3, 0, 0, -40), I(0xB7, 4, 0, 0, 0), I(0x85, 0, 0, 0, 2)]
    insns += [I(0xB7, 0, 0, 0, 2), I(0x95)]
    if callback is not None:
        start = sum(i.slots for i in insns)
        slot = sum(i.slots for i in insns[:func_at])
        insns[func_at] = I(0x18, callback[0], 4, 0, start - slot - 1)
        insns += callback[1]
    prog = ProgramSpec(name="harness", instructions=tuple(insns), type=ptype, map_references=tuple(refs))
    maps = {"results": MapSpec("results", MapType.ARRAY, 4, 40, 1), **(extra_maps or {})}
    return CollectionSpec(programs={"harness": prog}, maps=maps)


def stack_ptr(reg: int, offset: int) -> list[I]:
    return [I(0xBF, reg, 10), I(0x07, reg, 0, 0, offset)]


def imm(reg: int, value: int) -> I:
    return I(0xB7, reg, 0, 0, value)
