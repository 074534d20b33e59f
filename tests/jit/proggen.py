"""A seeded generator of random valid eBPF programs for differential testing (JIT vs interpreter).

Programs use r1 as a pointer to a 128-byte writable buffer and r10 as the frame pointer (both
never written); the other registers get random ALU (all ops, 32 and 64 bit, edge-case
immediates), byte swaps, loads/stores/atomics on the buffer and the stack, sign-extending loads,
forward conditional jumps (all conditions), bounded loops and local calls. The epilogue stores
r0-r9 into the buffer so every register's final value is observable. With `faulty=True` some
accesses go out of bounds so faults are compared too.
"""

from __future__ import annotations

import random

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import AluOp, AtomicOp, InsnClass, JmpOp, Mode, Size, Source

BUF_SIZE = 128
OUT_OFFSET = 48  # r0-r9 are stored at buf[48..128)
EDGE = [0, 1, -1, 2, 7, 31, 32, 63, 64, 0x7FFFFFFF, -0x80000000, 0xFF, 0x8000, -2, 13, 100]
WORK = [0, 2, 3, 4, 5, 6, 7, 8, 9]
SIZES = {1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW}


def _imm(rng: random.Random) -> int:
    return rng.choice(EDGE) if rng.random() < 0.6 else rng.randint(-(1 << 31), (1 << 31) - 1)


class Generator:
    def __init__(self, seed: int, *, faulty: bool = False) -> None:
        self.rng = random.Random(seed)
        self.faulty = faulty
        self.work = WORK

    def alu(self) -> Instruction:
        rng = self.rng
        cls = rng.choice([InsnClass.ALU, InsnClass.ALU64])
        dst = rng.choice(self.work)
        roll = rng.random()
        if roll < 0.08:  # byte swaps
            kind = rng.choice([(InsnClass.ALU, Source.K), (InsnClass.ALU, Source.X), (InsnClass.ALU64, Source.K)])
            return Instruction(kind[0] | kind[1] | AluOp.END, dst, 0, 0, rng.choice([16, 32, 64]))
        if roll < 0.16:  # movsx
            off = rng.choice([8, 16, 32] if cls == InsnClass.ALU64 else [8, 16])
            return Instruction(cls | Source.X | AluOp.MOV, dst, rng.choice(self.work), off, 0)
        op = rng.choice(list(AluOp))
        if op == AluOp.END:
            op = AluOp.ADD
        off = 1 if op in (AluOp.DIV, AluOp.MOD) and rng.random() < 0.5 else 0
        if op == AluOp.NEG:
            return Instruction(cls | Source.K | op, dst, 0, 0, 0)
        if rng.random() < 0.5:
            src = rng.choice(self.work)
            return Instruction(cls | Source.X | op, dst, src, off, 0)
        return Instruction(cls | Source.K | op, dst, 0, off, _imm(rng))

    def address(self, size: int) -> tuple[int, int]:
        """A base register (r1 buffer or r10 stack) and an offset valid for `size` bytes."""
        rng = self.rng
        if self.faulty and rng.random() < 0.03:
            return rng.choice([1, 10]), rng.choice([BUF_SIZE, -600, 512, 4096, -size + 1 if size > 1 else -1])
        if rng.random() < 0.5:
            return 1, rng.randrange(0, OUT_OFFSET - size + 1)
        return 10, -rng.randrange(size, 65)

    def memory(self) -> list[Instruction]:
        rng = self.rng
        size = rng.choice([1, 2, 4, 8])
        base, off = self.address(size)
        roll = rng.random()
        if roll < 0.35:
            mode = Mode.MEMSX if size < 8 and rng.random() < 0.3 else Mode.MEM
            return [Instruction(InsnClass.LDX | mode | SIZES[size], rng.choice(self.work), base, off, 0)]
        if roll < 0.6:
            return [Instruction(InsnClass.STX | Mode.MEM | SIZES[size], base, rng.choice(self.work), off, 0)]
        if roll < 0.8:
            return [Instruction(InsnClass.ST | Mode.MEM | SIZES[size], base, 0, off, _imm(rng))]
        size = rng.choice([4, 8])
        base, off = self.address(size)
        imm = int(rng.choice(
            [AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR, AtomicOp.XCHG, AtomicOp.CMPXCHG]
        ))
        if imm not in (AtomicOp.XCHG, AtomicOp.CMPXCHG) and rng.random() < 0.5:
            imm |= 0x01
        return [Instruction(InsnClass.STX | Mode.ATOMIC | SIZES[size], base, rng.choice(self.work), off, int(imm))]

    def block(self, length: int) -> list[Instruction]:
        """Straight-line code with forward jumps that stay inside the block."""
        rng = self.rng
        out: list[Instruction] = []
        while len(out) < length:
            roll = rng.random()
            if roll < 0.55:
                out.append(self.alu())
            elif roll < 0.8:
                out.extend(self.memory())
            elif roll < 0.88:
                out.append(Instruction(0x18, rng.choice(self.work), 0, 0, rng.getrandbits(64)))
            else:
                skip = rng.randint(0, 4)
                body = self.block(skip) if skip else []
                cls = rng.choice([InsnClass.JMP, InsnClass.JMP32])
                op = rng.choice([j for j in JmpOp if j not in (JmpOp.CALL, JmpOp.EXIT, JmpOp.JA)])
                if rng.random() < 0.5:
                    jump = Instruction(cls | Source.X | op, rng.choice(self.work), rng.choice(self.work), _slots(body), 0)
                else:
                    jump = Instruction(cls | Source.K | op, rng.choice(self.work), 0, _slots(body), _imm(rng))
                out.append(jump)
                out.extend(body)
        return out

    def loop(self) -> list[Instruction]:
        """A bounded loop counting r9 down from a small constant."""
        n = self.rng.randint(1, 6)
        self.work = [r for r in WORK if r != 9]
        body = self.block(self.rng.randint(1, 6))
        self.work = WORK
        loop_body = [*body, Instruction(InsnClass.ALU64 | Source.K | AluOp.SUB, 9, 0, 0, 1)]
        back = -(_slots(loop_body) + 1)
        jump = Instruction(InsnClass.JMP | Source.K | JmpOp.JNE, 9, 0, back, 0)
        return [Instruction(InsnClass.ALU64 | Source.K | AluOp.MOV, 9, 0, 0, n), *loop_body, jump]

    def program(self) -> list[Instruction]:
        rng = self.rng
        chunks: list[list[Instruction]] = []
        for _ in range(rng.randint(1, 4)):
            chunks.append(self.block(rng.randint(3, 20)))
            if rng.random() < 0.3:
                chunks.append(self.loop())
        use_call = rng.random() < 0.3
        sub: list[Instruction] = []
        if use_call:
            sub = self.block(rng.randint(2, 10))
            sub.append(Instruction(InsnClass.JMP | JmpOp.EXIT))
        epilogue = [
            Instruction(InsnClass.STX | Mode.MEM | Size.DW, 1, r, OUT_OFFSET + 8 * r, 0) for r in range(10) if r != 1
        ]
        epilogue.append(Instruction(InsnClass.JMP | JmpOp.EXIT))
        if use_call:
            # call the sub-program once between two chunks (it never writes r1, the buffer)
            pos = rng.randint(0, len(chunks))
            tail = [i for chunk in chunks[pos:] for i in chunk]
            call = Instruction(InsnClass.JMP | JmpOp.CALL, 0, 1, 0, _slots(tail) + _slots(epilogue))
            chunks.insert(pos, [call])
        main = [i for chunk in chunks for i in chunk]
        return [*main, *epilogue, *sub]


def _slots(insns: list[Instruction]) -> int:
    return sum(i.slots for i in insns)


class XdpGenerator(Generator):
    """Random XDP programs: ctx loads, a proven packet range, packet/stack/ctx accesses, helpers."""

    def __init__(self, seed: int, *, faulty: bool = False) -> None:
        super().__init__(seed, faulty=faulty)
        self.work = [0, 5, 7, 8, 9]  # r2/r3 packet bounds, r4 their check, r6 the context

    def packet_access(self, length: int) -> list[Instruction]:
        rng = self.rng
        size = rng.choice([s for s in (1, 2, 4, 8) if s <= length] or [1])
        off = rng.randrange(0, length - size + 1)
        if self.faulty and rng.random() < 0.05:
            off = length + rng.randrange(0, 8)
        if rng.random() < 0.5:
            mode = Mode.MEMSX if size < 8 and rng.random() < 0.2 else Mode.MEM
            return [Instruction(InsnClass.LDX | mode | SIZES[size], rng.choice(self.work), 2, off, 0)]
        if rng.random() < 0.5:
            return [Instruction(InsnClass.STX | Mode.MEM | SIZES[size], 2, rng.choice(self.work), off, 0)]
        return [Instruction(InsnClass.ST | Mode.MEM | SIZES[size], 2, 0, off, _imm(rng))]

    def xdp_program(self) -> list[Instruction]:
        rng = self.rng
        length = rng.randint(1, 64)
        head = [
            Instruction(InsnClass.ALU64 | Source.X | AluOp.MOV, 6, 1, 0, 0),
            Instruction(InsnClass.LDX | Mode.MEM | Size.W, 2, 6, 0, 0),
            Instruction(InsnClass.LDX | Mode.MEM | Size.W, 3, 6, 4, 0),
            Instruction(InsnClass.ALU64 | Source.X | AluOp.MOV, 4, 2, 0, 0),
            Instruction(InsnClass.ALU64 | Source.K | AluOp.ADD, 4, 0, 0, length),
        ]
        body: list[Instruction] = []
        for _ in range(rng.randint(3, 30)):
            roll = rng.random()
            if roll < 0.35:
                body.extend(self.packet_access(length))
            elif roll < 0.6:
                body.append(self.alu())
            elif roll < 0.7:
                size = rng.choice([1, 2, 4, 8])
                off = -rng.randrange(size, 65)
                if rng.random() < 0.5:
                    body.append(Instruction(InsnClass.STX | Mode.MEM | SIZES[size], 10, rng.choice(self.work), off, 0))
                else:
                    body.append(Instruction(InsnClass.LDX | Mode.MEM | SIZES[size], rng.choice(self.work), 10, off, 0))
            elif roll < 0.8:
                field = rng.choice([12, 16, 20])  # not data/data_end/data_meta: pointers
                body.append(Instruction(InsnClass.LDX | Mode.MEM | Size.W, rng.choice(self.work), 6, field, 0))
            elif roll < 0.85 and self.faulty:
                body.append(Instruction(InsnClass.STX | Mode.MEM | Size.W, 6, rng.choice(self.work), 12, 0))
            elif roll < 0.9:
                body.append(Instruction(InsnClass.JMP | JmpOp.CALL, 0, 0, 0, rng.choice([5, 7, 8])))
                body.append(Instruction(InsnClass.ALU64 | Source.K | AluOp.MOV, 0, 0, 0, rng.randrange(4)))
            else:
                # bpf_xdp_adjust_head(ctx, delta), then re-derive and re-check the packet range
                delta = rng.choice([-8, -4, 0, 4, 8])
                body.extend([
                    Instruction(InsnClass.ALU64 | Source.X | AluOp.MOV, 1, 6, 0, 0),
                    Instruction(InsnClass.ALU64 | Source.K | AluOp.MOV, 2, 0, 0, delta),
                    Instruction(InsnClass.JMP | JmpOp.CALL, 0, 0, 0, 44),
                    Instruction(InsnClass.LDX | Mode.MEM | Size.W, 2, 6, 0, 0),
                    Instruction(InsnClass.LDX | Mode.MEM | Size.W, 3, 6, 4, 0),
                    Instruction(InsnClass.ALU64 | Source.X | AluOp.MOV, 4, 2, 0, 0),
                    Instruction(InsnClass.ALU64 | Source.K | AluOp.ADD, 4, 0, 0, length),
                    Instruction(InsnClass.JMP | Source.X | JmpOp.JGT, 4, 3, 0, 0),  # patched below
                ])
        tail = [
            Instruction(InsnClass.ALU64 | Source.K | AluOp.AND, 0, 0, 0, 3),
            Instruction(InsnClass.JMP | JmpOp.EXIT),
        ]
        out = [Instruction(InsnClass.ALU64 | Source.K | AluOp.MOV, 0, 0, 0, 1), Instruction(InsnClass.JMP | JmpOp.EXIT)]
        program = head + [Instruction(InsnClass.JMP | Source.X | JmpOp.JGT, 4, 3, 0, 0)] + body + tail + out
        # every "if r4 > r3" jumps to `out`
        out_pc = _slots(program) - _slots(out)
        fixed: list[Instruction] = []
        pc = 0
        for insn in program:
            if insn.opcode == InsnClass.JMP | Source.X | JmpOp.JGT and insn.dst == 4 and insn.src == 3:
                insn = insn.replace(off=out_pc - pc - 1)
            fixed.append(insn)
            pc += insn.slots
        return fixed
