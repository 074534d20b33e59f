"""Seeded generator of small, often-invalid eBPF programs that stress the verifier's rules."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pybpf.abi import MapType, ProgramType
from pybpf.isa.instruction import Instruction as I
from pybpf.object.spec import MapReference, MapSpec

CONSTS = [0, 1, 2, 3, 4, 7, 8, 14, 15, 16, 31, 32, 63, 64, 255, 256, 4095, 0x7FFF, 0x7FFFFFFF, -1, -2, -8, -16,
          -512, 0x10000]
SIZES = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}
ALU = [0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xC0, 0x30, 0x90, 0xB0]
JMP = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0]

ARRAY = MapSpec("arr", MapType.ARRAY, 4, 48, 4)
HASH = MapSpec("hash", MapType.HASH, 8, 16, 64)
RINGBUF = MapSpec("rb", MapType.RINGBUF, 0, 0, 4096)
RODATA = MapSpec(".rodata", MapType.ARRAY, 4, 16, 1, contents=((b"\0\0\0\0", bytes(range(16))),), frozen=True)


@dataclass
class Generated:
    """One generated program and what the kernel needs to load it."""

    name: str
    program_type: int
    insns: list[I]
    maps: dict[str, MapSpec] = field(default_factory=dict)
    refs: list[MapReference] = field(default_factory=list)


class _Builder:
    def __init__(self, rng: random.Random, ptype: int) -> None:
        self.rng = rng
        self.ptype = ptype
        self.insns: list[I] = []
        self.refs: list[MapReference] = []
        self.maps: dict[str, MapSpec] = {}
        self.init: set[int] = {6, 7, 8}

    @property
    def pc(self) -> int:
        return sum(i.slots for i in self.insns)

    def emit(self, insn: I) -> None:
        self.insns.append(insn)

    def reg(self) -> int:
        """A register to read: usually one that holds a value."""
        if self.rng.random() < 0.9 and self.init:
            return self.rng.choice(sorted(self.init))
        return self.rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])

    def dst(self) -> int:
        r = self.rng.choice([0, 2, 3, 4, 5, 9])
        self.init.add(r)
        return r

    def imm(self) -> int:
        return self.rng.choice(CONSTS) if self.rng.random() < 0.8 else self.rng.randint(-600, 600)

    def lddw_map(self, dst: int, spec: MapSpec, kind: str = "fd", offset: int = 0) -> None:
        self.maps[spec.name] = spec
        self.refs.append(MapReference(self.pc, spec.name, kind, offset))
        self.emit(I(0x18, dst, 0, 0, 0))

    # -- fragments --
    def alu(self) -> None:
        op = self.rng.choice(ALU)
        cls = 0x07 if self.rng.random() < 0.75 else 0x04
        dst = self.reg() if self.rng.random() < 0.5 else self.dst()
        if self.rng.random() < 0.5:
            imm = self.imm()
            if op in (0x60, 0x70, 0xC0):
                imm = self.rng.choice([0, 1, 2, 3, 8, 16, 31, 32, 63]) & (63 if cls == 7 else 31)
            if op in (0x30, 0x90) and imm == 0:
                imm = 3
            self.emit(I(cls | op, dst, 0, 0, imm))
        else:
            self.emit(I(cls | op | 0x08, dst, self.reg(), 0, 0))

    def mov_imm(self) -> None:
        self.emit(I(0xB7, self.dst(), 0, 0, self.imm()))

    def stack_store(self) -> None:
        size = self.rng.choice([1, 2, 4, 8])
        off = self.rng.choice([-8, -16, -24, -4, -2, -1, -512, -520, -7, 0, 8, -64]) if self.rng.random() < 0.3 \
            else -size * self.rng.randint(1, 16)
        if self.rng.random() < 0.5:
            self.emit(I(0x62 | SIZES[size], 10, 0, off, self.imm()))
        else:
            self.emit(I(0x63 | SIZES[size], 10, self.reg(), off, 0))

    def stack_load(self) -> None:
        size = self.rng.choice([1, 2, 4, 8])
        off = -size * self.rng.randint(1, 8) if self.rng.random() < 0.8 else self.rng.choice([-3, -516, 0, -1])
        self.emit(I(0x61 | SIZES[size], self.dst(), 10, off, 0))

    def ctx_load(self) -> None:
        size = self.rng.choice([4, 4, 4, 1, 2, 8])
        off = self.rng.choice([0, 4, 8, 12, 16, 20, 24, 48, 76, 80, 140, 168, 2, 3])
        self.emit(I(0x61 | SIZES[size], self.dst(), 6, off, 0))

    def packet(self) -> None:
        """Bounds check data + n against data_end, then a load at a random offset."""
        n = self.rng.choice([1, 2, 4, 8, 14, 20, 34, 64])
        self.emit(I(0xBF, 2, 7, 0, 0))
        self.emit(I(0x07, 2, 0, 0, n))
        skip = self.rng.choice([1, 2])
        cond = self.rng.choice([0x20, 0x20, 0x30, 0xA0])  # jgt / jge / jlt
        if cond == 0xA0:
            self.emit(I(0x05 | cond | 0x08, 8, 2, skip, 0))
        else:
            self.emit(I(0x05 | cond | 0x08, 2, 8, skip, 0))
        size = self.rng.choice([1, 2, 4, 8])
        good = [o for o in (0, n - size, max(0, n - 2 * size)) if o >= 0]
        off = self.rng.choice(good) if self.rng.random() < 0.75 else self.rng.choice([n - size + 1, n, -1])
        self.emit(I(0x61 | SIZES[size], 0, 7, off, 0))
        if skip == 2:
            self.emit(I(0x07, 0, 0, 0, 1))
        self.init |= {0, 2}

    def map_lookup(self) -> None:
        spec = self.rng.choice([ARRAY, HASH])
        self.emit(I(0x62 | (0x18 if spec.key_size == 8 else 0), 10, 0, -8, self.rng.choice([0, 1, 3, 9])))
        self.emit(I(0xBF, 2, 10, 0, 0))
        self.emit(I(0x07, 2, 0, 0, self.rng.choice([-8, -8, -8, -4, -12])))
        self.lddw_map(1, spec)
        self.emit(I(0x85, 0, 0, 0, 1))
        self.init -= {1, 2, 4, 5}
        self.init |= {0, 3}
        null_check = self.rng.random() < 0.85
        size = self.rng.choice([1, 4, 8])
        body = []
        if self.rng.random() < 0.5:
            off = self.rng.choice([0, 8, spec.value_size - size]) if self.rng.random() < 0.75 else \
                self.rng.choice([spec.value_size - size + 1, spec.value_size, -1])
            body.append(I(0x61 | SIZES[size], 3, 0, off, 0))
        else:  # variable offset from a bounded (or not) index
            body.append(I(0x61, 4, 0, 0, 0) if self.rng.random() < 0.5 else I(0xB7, 4, 0, 0, self.imm()))
            mask = self.rng.choice([0x7, 0xF, 0x1F, 0x3F, 0xFF])
            if self.rng.random() < 0.8:
                body.append(I(0x57, 4, 0, 0, mask))
            body.append(I(0x0F, 0, 4, 0, 0))
            body.append(I(0x61 | SIZES[size], 3, 0, self.rng.choice([0, 8, 16]), 0))
        if self.rng.random() < 0.3:
            body.append(I(0x62 | SIZES[size], 0, 0, 0, 1))
        if null_check:
            self.emit(I(0x15, 0, 0, len(body), 0))
        for b in body:
            self.emit(b)

    def rodata(self) -> None:
        off = self.rng.choice([0, 4, 8, 12, 15])
        self.lddw_map(3, RODATA, "value", 0)
        self.init |= {3, 4}
        if self.rng.random() < 0.7:
            self.emit(I(0x61, 4, 3, off, 0))
        else:
            self.emit(I(0x62, 3, 0, off, 1))

    def ringbuf(self) -> None:
        self.lddw_map(1, RINGBUF)
        self.emit(I(0xB7, 2, 0, 0, self.rng.choice([8, 16, 0])))
        self.emit(I(0xB7, 3, 0, 0, 0))
        self.emit(I(0x85, 0, 0, 0, 131))
        self.init -= {1, 2, 3, 4, 5}
        self.init.add(0)
        if self.rng.random() < 0.85:
            tail = []
            if self.rng.random() < 0.7:
                tail.append(I(0x7A, 0, 0, self.rng.choice([0, 8, 16]), 7))
            release = self.rng.random() < 0.85
            if release:
                tail += [I(0xBF, 1, 0, 0, 0), I(0xB7, 2, 0, 0, 0), I(0x85, 0, 0, 0, self.rng.choice([132, 133]))]
            self.emit(I(0x15, 0, 0, len(tail), 0))
            for t in tail:
                self.emit(t)

    def helper(self) -> None:
        self.emit(I(0x85, 0, 0, 0, self.rng.choice([5, 7, 8, 14])))
        self.init -= {1, 2, 3, 4, 5}
        self.init.add(0)

    def cond_jump(self) -> None:
        op = self.rng.choice(JMP)
        cls = 0x05 if self.rng.random() < 0.8 else 0x06
        dist = self.rng.randint(0, 4)
        if self.rng.random() < 0.5:
            self.emit(I(cls | op, self.reg(), 0, dist, self.imm()))
        else:
            self.emit(I(cls | op | 0x08, self.reg(), self.reg(), dist, 0))

    def loop(self) -> None:
        """A counted loop (bounded or not)."""
        n = self.rng.choice([3, 10, 100, 0])
        r = self.rng.choice([4, 5])
        self.emit(I(0xB7, r, 0, 0, n))
        self.emit(I(0x07, 0, 0, 0, 1) if self.rng.random() < 0.5 else I(0xB7, 0, 0, 0, 2))
        self.emit(I(0x07, r, 0, 0, self.rng.choice([-1, -1, -1, 1, 0])))
        self.emit(I(0x55, r, 0, -3, 0))
        self.init |= {r, 0}


def generate(seed: int) -> Generated:
    """The program for `seed` (deterministic)."""
    rng = random.Random(seed)
    ptype = rng.choice([ProgramType.XDP] * 3 + [ProgramType.SOCKET_FILTER, ProgramType.SCHED_CLS])
    b = _Builder(rng, ptype)
    b.emit(I(0xBF, 6, 1, 0, 0))
    if ptype != ProgramType.SOCKET_FILTER:
        off = 0 if ptype == ProgramType.XDP else 76
        b.emit(I(0x61, 7, 6, off, 0))
        b.emit(I(0x61, 8, 6, off + 4, 0))
    if rng.random() < 0.7:
        b.emit(I(0xB7, 0, 0, 0, 0))
        b.init.add(0)
    frags = [(b.alu, 6), (b.mov_imm, 3), (b.stack_store, 3), (b.stack_load, 3), (b.ctx_load, 2),
             (b.map_lookup, 3), (b.cond_jump, 4), (b.helper, 1), (b.rodata, 1), (b.ringbuf, 1), (b.loop, 1)]
    if ptype != ProgramType.SOCKET_FILTER:
        frags.append((b.packet, 4))
    funcs = [f for f, w in frags for _ in range(w)]
    for _ in range(rng.randint(2, 9)):
        rng.choice(funcs)()
    if rng.random() < 0.9:
        b.emit(I(0xB7 if rng.random() < 0.9 else 0xBF, 0, 0, 0, rng.choice([0, 1, 2])))
    b.emit(I(0x95))
    # clamp conditional jump targets into the program (most of them)
    total = b.pc
    pcs = []
    p = 0
    for insn in b.insns:
        pcs.append(p)
        p += insn.slots
    fixed = []
    for idx, insn in enumerate(b.insns):
        cls = insn.opcode & 0x07
        if cls in (0x05, 0x06) and insn.opcode & 0xF0 not in (0x80, 0x90, 0x00):
            target = pcs[idx] + insn.off + 1
            if target >= total and rng.random() < 0.95:
                insn = insn.replace(off=total - 1 - pcs[idx] - 1)
        fixed.append(insn)
    return Generated(f"rand_{seed}", int(ptype), fixed, b.maps, b.refs)
