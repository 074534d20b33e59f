"""Closure makers for the interpreter's memory instructions: ldx/st/stx, sign-extending loads, atomics.

Every access goes through the memory model's last-used-region fast path and falls back to
`Memory.find`, which raises RuntimeFault (pc, address, size) for anything outside the regions.
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.errors import RuntimeFault
from pybpf.vm.memory import PACK, UNPACK, Memory
from pybpf.vm.ops import M32, M64

Op = Callable[[], int]


def make_load(
    mem: Memory, regs: list[int], pc: int, d: int, s: int, off: int, size: int, signed: bool
) -> Op:
    """ldx{b,h,w,dw} / ldxs{b,h,w}: dst = *(size *)(src + off)."""
    unpack = UNPACK[size]
    find = mem.find
    nxt = pc + 1
    if signed:
        sign = 1 << (size * 8 - 1)

        def ldxs() -> int:
            addr = (regs[s] + off) & M64
            r = mem.last
            if addr < r.address or addr + size > r.end:
                r = find(addr, size, pc)
                if r.ctx is not None:
                    regs[d] = ((r.ctx.load(addr - r.address, size, pc) ^ sign) - sign) & M64
                    return nxt
            regs[d] = ((unpack(r.buffer, addr - r.address)[0] ^ sign) - sign) & M64
            return nxt

        return ldxs

    def ldx() -> int:
        addr = (regs[s] + off) & M64
        r = mem.last
        if addr < r.address or addr + size > r.end:
            r = find(addr, size, pc)
            if r.ctx is not None:
                regs[d] = r.ctx.load(addr - r.address, size, pc)
                return nxt
        regs[d] = unpack(r.buffer, addr - r.address)[0]
        return nxt

    return ldx


def make_store_imm(mem: Memory, regs: list[int], pc: int, d: int, off: int, size: int, imm: int) -> Op:
    """st{b,h,w,dw}: *(size *)(dst + off) = imm (sign-extended, then truncated)."""
    pack = PACK[size]
    find = mem.find
    nxt = pc + 1
    value = imm & ((1 << (size * 8)) - 1)

    def st() -> int:
        addr = (regs[d] + off) & M64
        r = mem.last_w
        if addr < r.address or addr + size > r.end:
            r = find(addr, size, pc, write=True)
            if r.ctx is not None:
                r.ctx.store(addr - r.address, size, value, pc)
                return nxt
        pack(r.buffer, addr - r.address, value)
        return nxt

    return st


def make_store_reg(mem: Memory, regs: list[int], pc: int, d: int, s: int, off: int, size: int) -> Op:
    """stx{b,h,w,dw}: *(size *)(dst + off) = src."""
    pack = PACK[size]
    find = mem.find
    nxt = pc + 1
    mask = (1 << (size * 8)) - 1

    def stx() -> int:
        addr = (regs[d] + off) & M64
        r = mem.last_w
        if addr < r.address or addr + size > r.end:
            r = find(addr, size, pc, write=True)
            if r.ctx is not None:
                r.ctx.store(addr - r.address, size, regs[s] & mask, pc)
                return nxt
        pack(r.buffer, addr - r.address, regs[s] & mask)
        return nxt

    return stx


_ATOMIC_OPS: dict[int, Callable[[int, int], int]] = {
    0x00: lambda old, v: old + v,
    0x40: lambda old, v: old | v,
    0x50: lambda old, v: old & v,
    0xA0: lambda old, v: old ^ v,
    0xE0: lambda old, v: v,  # xchg
}


def make_atomic(
    mem: Memory, regs: list[int], pc: int, d: int, s: int, off: int, size: int, imm: int
) -> Op:
    """lock {add,or,and,xor}[fetch], xchg, cmpxchg on 4 or 8 bytes at dst + off."""
    unpack = UNPACK[size]
    pack = PACK[size]
    find = mem.find
    nxt = pc + 1
    mask = M64 if size == 8 else M32
    if imm == 0xF1:  # cmpxchg: compare with r0, store src if equal, r0 = old

        def cmpxchg() -> int:
            addr = (regs[d] + off) & M64
            r = find(addr, size, pc, write=True)
            if r.ctx is not None:
                raise RuntimeFault("atomic operation on the program context", pc=pc, address=addr, size=size)
            o = addr - r.address
            old = unpack(r.buffer, o)[0]
            if old == regs[0] & mask:
                pack(r.buffer, o, regs[s] & mask)
            regs[0] = old
            return nxt

        return cmpxchg
    fetch = bool(imm & 0x01)
    try:
        combine = _ATOMIC_OPS[imm & 0xF0]
    except KeyError:
        raise RuntimeFault(f"unknown atomic operation {imm:#x}", pc=pc) from None

    def atomic() -> int:
        addr = (regs[d] + off) & M64
        r = find(addr, size, pc, write=True)
        if r.ctx is not None:
            raise RuntimeFault("atomic operation on the program context", pc=pc, address=addr, size=size)
        o = addr - r.address
        old = unpack(r.buffer, o)[0]
        pack(r.buffer, o, combine(old, regs[s] & mask) & mask)
        if fetch:
            regs[s] = old
        return nxt

    return atomic
