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
