"""The interpreter's fast path: straight-line runs of instructions compiled into one Python function.

The reference semantics live in the per-instruction closures (pybpf.vm.interpreter, ops, memops).
This module only removes dispatch overhead: it splits the program into basic blocks (a block
starts at pc 0, at every jump or call target, at every function pointer target and after every
jump, call or exit) and generates, per block, one function whose body inlines the common
instructions (ALU, lddw, the fast path of loads and stores, conditional jumps) and calls the
instruction's own closure for everything else (helpers, calls, exit, atomics, byte swaps, slow
memory paths). A block function returns the next pc, which is always the start of a block.
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

MAX_SLOTS_FOR_BLOCKS = 20_000  # larger programs use the per-instruction loop (compile time)

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
    reg_source = bool(opcode & 0x08)
    name = ops.ALU_NAMES[op]
    if op == 0x30 and insn.off == 1:
        name = "sdiv"
    elif op == 0x90 and insn.off == 1:
        name = "smod"
    elif op == 0xB0 and insn.off:
        name = f"movsx{insn.off}"
    elif op == 0x80:
        reg_source = False
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


def compile_blocks(
    table: Sequence[Instruction | None], closures: Sequence[Op], memory: Any, regs: list[int]
) -> tuple[list[Op | None], list[int]]:
    """Block functions by start slot (None elsewhere) and the instruction count of each block."""
    starts = leaders(table)
    bounds = [*starts[1:], len(table)]
    source = ["def make(regs, mem, closures, U1, U2, U4, U8, P1, P2, P4, P8):"]
    used: set[int] = set()
    counts: list[int] = [0] * len(table)
    body_of: dict[int, list[str]] = {}
    for start, end in zip(starts, bounds, strict=True):
        lines: list[str] = []
        pc = start
        n = 0
        terminated = False
        while pc < end:
            insn = table[pc]
            assert insn is not None
            n += 1
            if _ends_block(insn):
                if insn.opcode in (EXIT, CALLX, CALL):
                    used.add(pc)
                lines += _jump_lines(pc, insn)
                terminated = True
                break
            if insn.opcode == LDDW:
                target = func_pointer_target(pc, insn)
                if target is None:
                    lines.append(f"regs[{insn.dst}] = {insn.imm & M64}")
                else:
                    used.add(pc)
                    lines.append(f"o{pc}()")
            else:
                inline = (
                    _alu_lines(insn)
                    if insn.opcode & 0x07 in (InsnClass.ALU, InsnClass.ALU64)
                    else _memory_lines(pc, insn)
                )
                if inline is None or any(f"o{pc}()" in line for line in inline):
                    used.add(pc)
                lines += inline if inline is not None else [f"o{pc}()"]
            pc += insn.slots
        if not terminated:
            lines.append(f"return {end}")
        counts[start] = n
        body_of[start] = lines
    for pc in sorted(used):
        source.append(f"    o{pc} = closures[{pc}]")
    for start, lines in body_of.items():
        source.append(f"    def b{start}():")
        source.extend(f"        {line}" for line in lines)
    source.append(f"    return {{{', '.join(f'{s}: b{s}' for s in starts)}}}")
    namespace: dict[str, Any] = {}
    globals_ = {"sdiv": ops.sdiv, "smod": ops.smod, "sign_extend": ops.sign_extend,
                "M64": M64, "M32": M32, "S64": S64, "S32": S32}
    exec(compile("\n".join(source), "<pybpf.vm.blocks>", "exec"), globals_, namespace)  # noqa: S102
    unpack = [UNPACK[n] for n in (1, 2, 4, 8)]
    pack = [PACK[n] for n in (1, 2, 4, 8)]
    made: dict[int, Op] = namespace["make"](regs, memory, closures, *unpack, *pack)
    blocks: list[Op | None] = [None] * len(table)
    for start, fn in made.items():
        blocks[start] = fn
    return blocks, counts


__all__ = ["MAX_SLOTS_FOR_BLOCKS", "compile_blocks", "leaders"]
