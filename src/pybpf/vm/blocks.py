"""The interpreter's fast path: straight-line runs of instructions compiled into one Python function.

The reference semantics live in the per-instruction closures (pybpf.vm.interpreter, ops, memops).
This module only removes dispatch overhead: it splits the program into basic blocks (a block
starts at pc 0, at every jump or call target, at every function pointer target and after every
jump, call or exit) and generates, per block, one function whose body inlines the common
instructions (ALU, lddw, the fast path of loads and stores, conditional jumps) and calls the
instruction's own closure for everything else (helpers, calls, exit, atomics, byte swaps, slow
memory paths). A block function returns the next pc, which is always the start of a block.
Blocks are compiled the first time they run, so loading cost follows the code actually executed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import CALL, CALLX, EXIT, JA, JA32, LDDW, InsnClass, Mode
from pybpf.vm import ops
from pybpf.vm.loadcheck import func_pointer_target, jump_target
from pybpf.vm.memory import PACK, UNPACK
from pybpf.vm.ops import M32, M64, S32, S64

Op = Callable[[], int]
_SIZE = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}


def leaders(table: Sequence[Instruction | None]) -> list[int]:
    """The slots where blocks start, sorted."""
    starts = {0}
    for pc, insn in enumerate(table):
        if insn is None:
            continue
        target = jump_target(pc, insn)
        if target is not None:
            starts.add(target)
        fptr = func_pointer_target(pc, insn)
        if fptr is not None:
            starts.add(fptr)
        if _ends_block(insn):
            starts.add(pc + insn.slots)
    return sorted(s for s in starts if 0 <= s < len(table) and table[s] is not None)


def _ends_block(insn: Instruction) -> bool:
    return insn.opcode & 0x07 in (InsnClass.JMP, InsnClass.JMP32)


def _alu_lines(insn: Instruction) -> list[str] | None:
    """Inline Python for an ALU instruction, or None to call its closure."""
    opcode = insn.opcode
    op = opcode & 0xF0
    if op == 0xD0:
        if opcode & 0x08 or opcode & 0x07 == InsnClass.ALU64:
            return None  # byte swaps: the closure
        return [f"regs[{insn.dst}] &= {(1 << insn.imm) - 1}"]
    wide = opcode & 0x07 == InsnClass.ALU64
    name, reg_source = ops.alu_name(opcode, insn.off)
    expr = ops.ALU_EXPR[name][0 if wide else 1]
    d, s = insn.dst, insn.src
    k = insn.imm & (M64 if wide else M32)
    lines = []
    if re.search(r"\ba\b", expr):
        lines.append(f"a = regs[{d}]" if wide else f"a = regs[{d}] & {M32}")
    b = (f"regs[{s}]" if wide else f"(regs[{s}] & {M32})") if reg_source else str(k)
    if expr == "b":
        return [*lines, f"regs[{d}] = {b}"]
    if reg_source:
        lines.append(f"b = {b}")
    else:
        expr = re.sub(r"\bb\b", str(k), expr)
    return [*lines, f"regs[{d}] = {expr}"]


def _memory_lines(pc: int, insn: Instruction) -> list[str] | None:
    """Inline fast path of ldx/st/stx (the closure handles misses, contexts and faults)."""
    opcode = insn.opcode
    cls = opcode & 0x07
    mode = opcode & 0xE0
    if mode != Mode.MEM or cls not in (InsnClass.LDX, InsnClass.ST, InsnClass.STX):
        return None
    size = _SIZE[opcode & 0x18]
    off = insn.off
    if cls == InsnClass.LDX:
        base, cache = insn.src, "mem.last"
        action = f"regs[{insn.dst}] = U{size}(r.buffer, x - r.address)[0]"
    else:
        base, cache = insn.dst, "mem.last_w"
        if cls == InsnClass.ST:
            value = str(insn.imm & ((1 << (8 * size)) - 1))
        else:
            mask = (1 << (8 * size)) - 1
            value = f"regs[{insn.src}]" if size == 8 else f"regs[{insn.src}] & {mask}"
        action = f"P{size}(r.buffer, x - r.address, {value})"
    address = f"regs[{base}]" if off == 0 else f"(regs[{base}] + {off}) & {M64}"
    return [
        f"x = {address}",
        f"r = {cache}",
        f"if r.address <= x and x + {size} <= r.end:",
        f"    {action}",
        "else:",
        f"    o{pc}()",
    ]


def _jump_lines(pc: int, insn: Instruction) -> list[str]:
    """The block's last instruction: a jump, call or exit (returns the next pc)."""
    opcode = insn.opcode
    if opcode in (JA, JA32):
        target = jump_target(pc, insn)
        return [f"return {target}"]
    if opcode in (EXIT, CALLX) or opcode == CALL:
        return [f"return o{pc}()"]
    op = opcode & 0xF0
    wide = opcode & 0x07 == InsnClass.JMP
    reg_source = bool(opcode & 0x08)
    cond, signed = ops.JMP_EXPR[op]
    a = f"regs[{insn.dst}]" if wide else f"(regs[{insn.dst}] & {M32})"
    if reg_source:
        b = f"regs[{insn.src}]" if wide else f"(regs[{insn.src}] & {M32})"
    else:
        k = insn.imm & (M64 if wide else M32)
        b = str(k ^ (S64 if wide else S32) if signed else k)
    if signed:
        flip = S64 if wide else S32
        a = f"({a} ^ {flip})"
        if reg_source:
            b = f"({b} ^ {flip})"
    relation = cond.split()[1]
    return [f"if {a} {relation} {b}:", f"    return {pc + insn.off + 1}", f"return {pc + 1}"]


def _block_lines(table: Sequence[Instruction | None], start: int, end: int) -> tuple[list[str], set[int]]:
    """The body of the block [start, end) and the pcs whose closures it calls."""
    lines: list[str] = []
    used: set[int] = set()
    pc = start
    while pc < end:
        insn = table[pc]
        assert insn is not None
        if _ends_block(insn):
            if insn.opcode in (EXIT, CALLX, CALL):
                used.add(pc)
            return [*lines, *_jump_lines(pc, insn)], used
        if insn.opcode == LDDW and func_pointer_target(pc, insn) is None:
            lines.append(f"regs[{insn.dst}] = {insn.imm & M64}")
        else:
            inline = None
            if insn.opcode & 0x07 in (InsnClass.ALU, InsnClass.ALU64):
                inline = _alu_lines(insn)
            elif insn.opcode != LDDW:
                inline = _memory_lines(pc, insn)
            if inline is None:
                inline = [f"o{pc}()"]
            if any(f"o{pc}()" in line for line in inline):
                used.add(pc)
            lines += inline
        pc += insn.slots
    return [*lines, f"return {end}"], used


_GLOBALS = {
    "sdiv": ops.sdiv, "smod": ops.smod, "sign_extend": ops.sign_extend,
    "M64": M64, "M32": M32, "S64": S64, "S32": S32,
}  # fmt: skip


class BlockTable:
    """Block functions by start slot, compiled the first time each block runs.

    `functions[pc]` is the block starting at pc (None elsewhere) and `counts[pc]` the number
    of instructions it executes; both are lists the dispatch loop indexes directly.
    """

    def __init__(
        self, table: Sequence[Instruction | None], closures: Sequence[Op], memory: Any,
        regs: list[int],
    ) -> None:
        self.table = table
        self.closures = closures
        self.memory = memory
        self.regs = regs
        self.functions: list[Op | None] = [None] * len(table)
        self.counts: list[int] = [0] * len(table)
        starts = leaders(table)
        for start, end in zip(starts, [*starts[1:], len(table)], strict=True):
            self.counts[start] = self._count(start, end)
            self.functions[start] = self._stub(start, end)
        self.longest = max(self.counts, default=0)

    def _count(self, start: int, end: int) -> int:
        n, pc = 0, start
        while pc < end:
            insn = self.table[pc]
            assert insn is not None
            n += 1
            if _ends_block(insn):
                break
            pc += insn.slots
        return n

    def _stub(self, start: int, end: int) -> Op:
        def first_run() -> int:
            fn = self.compile(start, end)
            self.functions[start] = fn
            return fn()

        return first_run

    def compile(self, start: int, end: int) -> Op:
        """The function of block [start, end)."""
        lines, used = _block_lines(self.table, start, end)
        source = [
            "def make(regs, mem, closures, U1, U2, U4, U8, P1, P2, P4, P8):",
            *(f"    o{pc} = closures[{pc}]" for pc in sorted(used)),
            f"    def block_{start}():",
            *(f"        {line}" for line in lines),
            f"    return block_{start}",
        ]
        namespace: dict[str, Any] = {}
        code = compile("\n".join(source), f"<pybpf.vm.blocks {start}>", "exec")
        exec(code, dict(_GLOBALS), namespace)  # noqa: S102
        unpack = [UNPACK[n] for n in (1, 2, 4, 8)]
        pack = [PACK[n] for n in (1, 2, 4, 8)]
        fn: Op = namespace["make"](self.regs, self.memory, self.closures, *unpack, *pack)
        return fn


__all__ = ["BlockTable", "leaders"]
