"""The reference interpreter: executes eBPF bytecode with exactly RFC 9669's semantics.

A `Machine` is made once per loaded program. Loading checks the bytecode (pybpf.vm.loadcheck)
and pre-decodes every slot into a small closure that performs the instruction and returns the
next pc; running is then one tight loop `pc = ops[pc]()` bounded by an instruction budget.
Those closures are the semantics. For speed, pybpf.vm.blocks strings the common instructions of
each basic block into one generated function (calling the closures for the rest); the budget
stays exact and `use_blocks=False` runs the plain loop. Registers are unsigned 64-bit Python
ints in one list; memory is the bounds-checked region model of pybpf.vm.memory; helpers come
from a registry keyed by kernel helper id.

Calls: bpf-to-bpf calls push a frame (r6-r9 and r10 saved, a fresh 512-byte stack) up to 8
frames; `callx` calls the function pointer in dst (from `lddw rX, func`) or, as uBPF does, the
helper whose id it holds. Helpers may raise `ProgramExit` to end the program at once, or
`TailCall` to replace the running program (bpf_tail_call).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping, Sequence

from pybpf.errors import BpfError, RuntimeFault
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import (
    CALL,
    CALLX,
    EXIT,
    JA,
    JA32,
    LDDW,
    MAX_CALL_FRAMES,
    SIZE_BYTES,
    CallSrc,
    InsnClass,
    Mode,
    PseudoSrc,
)
from pybpf.vm import memops, ops
from pybpf.vm.blocks import BlockTable
from pybpf.vm.helper_registry import REGISTRY, HelperFn
from pybpf.vm.loadcheck import (
    DEFAULT_MAX_SLOTS,
    check_program,
    func_pointer_target,
    subprogram_starts,
)
from pybpf.vm.ops import M32, M64, S32, S64
from pybpf.vm.run_env import RunEnv

DEFAULT_BUDGET = 10_000_000
RETURN_TO_HOST = -1  # return address of a frame pushed by Python (helper callbacks)

Op = Callable[[], int]
# A tracer sees (machine, pc, registers) before every instruction executes.
Tracer = Callable[["Machine", int, list[int]], None]


class ProgramExit(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by a helper to end the whole program at once with `retval` (uBPF's unwind)."""

    def __init__(self, retval: int) -> None:
        super().__init__(retval)
        self.retval = retval & M64


class TailCall(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by bpf_tail_call: replace the running program with `target`, r1 = ctx."""

    def __init__(self, target: Machine, ctx: int) -> None:
        super().__init__()
        self.target = target
        self.ctx = ctx


class _Exit(Exception):  # noqa: N818
    """The program (or a callback frame) executed its final exit."""


_SIGNALS = (BpfError, ProgramExit, TailCall, _Exit, KeyboardInterrupt)


def _helper_name(helper_id: int) -> str:
    try:
        from pybpf.helpers import helper_name
    except ImportError:
        return f"#{helper_id}"
    name = helper_name(helper_id)
    return name if name.startswith("#") else f"{name} (#{helper_id})"


class Machine:
    """One program, checked and pre-decoded, ready to run on a RunEnv's memory."""

    def __init__(
        self,
        insns: Sequence[Instruction],
        env: RunEnv | None = None,
        *,
        helpers: Mapping[int, HelperFn] | None = None,
        max_slots: int = DEFAULT_MAX_SLOTS,
        name: str = "",
        tracer: Tracer | None = None,
        use_blocks: bool = True,
    ) -> None:
        self.name = name
        self.env = env if env is not None else RunEnv()
        self.memory = self.env.memory
        self.helpers: Mapping[int, HelperFn] = REGISTRY if helpers is None else helpers
        self.table = check_program(
            insns, self.helpers, max_slots=max_slots, helper_name=_helper_name
        )
        self.regs: list[int] = [0] * 11
        self.frames: list[tuple[int, list[int]]] = []
        self.depth0 = 0  # call depth of this machine's frame 0 (non-zero after a tail call)
        self.active = False  # a run of this machine is under way (its registers are in use)
        self.pc = 0  # the pc of the instruction calling a helper (for faults and helpers)
        self.instructions = 0  # instructions executed by the last run
        self.packet: tuple[int, int] | None = None  # (address, length) for ldabs/ldind
        # Function pointers (lddw rX, func) are addresses inside a never-mapped buffer.
        self._func_base_buf = ctypes.create_string_buffer(len(self.table) + 1)
        self.func_base = ctypes.addressof(self._func_base_buf)
        self.ops: list[Op] = [self._decode(pc, insn) for pc, insn in enumerate(self.table)]
        if tracer is not None:
            self.ops = [self._traced(pc, op, tracer) for pc, op in enumerate(self.ops)]
        self.ops.append(self._fell_off(len(self.table)))
        self.function_starts = frozenset(subprogram_starts(self.table))
        # The fast path: basic blocks compiled to one function each (same semantics).
        self.blocks: list[Op | None] | None = None
        self.block_counts: list[int] = []
        self.block_margin = 0
        if use_blocks and tracer is None:
            table = BlockTable(self.table, self.ops, self.memory, self.regs)
            self.blocks, self.block_counts = table.functions, table.counts
            self.block_margin = table.longest + 1

    # --- running -----------------------------------------------------------------------
    def run(
        self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0,
        *, budget: int = DEFAULT_BUDGET,
    ) -> int:
        """Run from pc 0 with r1..r5 set; returns r0 (unsigned 64-bit)."""
        env = self.env
        env.budget_left = budget
        env.tail_calls = 0
        env.stack.clear()
        self.memory.forget()
        try:
            retval = self._enter(0, (r1, r2, r3, r4, r5), 0)
        except ProgramExit as stop:
            retval = stop.retval
        finally:
            self.instructions = budget - max(env.budget_left, 0)
        return retval

    def _enter(self, pc: int, args: Sequence[int], depth: int) -> int:
        """Run this machine's code from `pc` as a fresh program at call depth `depth`."""
        regs, env, frames = self.regs, self.env, self.frames
        stack = env.stack
        if depth >= stack.frames:
            raise RuntimeFault(f"call depth exceeds {stack.frames} frames", pc=self.pc)
        stack.use(depth + 1)
        a1, a2, a3, a4, a5 = args if len(args) == 5 else (*args, 0, 0, 0, 0)[:5]
        start = (0, a1 & M64, a2 & M64, a3 & M64, a4 & M64, a5 & M64, 0, 0, 0, 0, stack.tops[depth])
        saved_machine = env.machine
        if not self.active:  # no run of this machine under way: nothing of its state to keep
            self.active = True
            regs[:] = start
            frames.clear()
            self.depth0 = depth
            env.machine = self
            try:
                return self._loop(pc)
            finally:
                self.active = False
                env.machine = saved_machine
        # a run of this machine inside one of its own (a tail call to itself, a helper running
        # it): the outer run resumes with its registers, frames and depth
        saved_regs, saved_frames, saved_depth = regs[:], frames[:], self.depth0
        try:
            regs[:] = start
            frames.clear()
            self.depth0 = depth
            env.machine = self
            return self._loop(pc)
        finally:
            regs[:] = saved_regs
            frames[:] = saved_frames
            self.depth0 = saved_depth
            env.machine = saved_machine

    def _loop(self, pc: int) -> int:
        """The dispatch loop: run until the current frame's final exit.

        Whole basic blocks run while the budget has room for the longest one; the last stretch
        before the budget runs out goes instruction by instruction, so the count is exact.
        """
        ops_ = self.ops
        env = self.env
        blocks, counts, margin = self.blocks, self.block_counts, self.block_margin
        while True:
            done = 0
            n = -1
            try:
                if blocks is not None:
                    limit = env.budget_left - margin
                    while done < limit:
                        done += counts[pc]
                        pc = blocks[pc]()  # type: ignore[misc]
                for n in range(env.budget_left - done):  # noqa: B007 - n counts on exit
                    pc = ops_[pc]()
            except _Exit:
                env.budget_left -= done + n + 1
                if env.budget_left < 0:
                    raise RuntimeFault("instruction budget exhausted", pc=pc) from None
                return self.regs[0]
            except TailCall as call:
                env.budget_left -= done + n + 1
                retval = call.target._enter(0, (call.ctx,), self.depth0 + len(self.frames))
                resume = self._return_from_frame(retval)
                if resume is None:
                    return retval
                pc = resume
                continue
            except (OverflowError, ValueError, TypeError) as exc:
                raise RuntimeFault(f"internal error executing instruction: {exc}", pc=pc) from exc
            env.budget_left = 0
            raise RuntimeFault("instruction budget exhausted", pc=pc)

    def _return_from_frame(self, retval: int) -> int | None:
        """Leave the current frame with r0 = retval: the pc to resume at, or None if it was the last."""
        self.regs[0] = retval & M64
        if not self.frames:
            return None
        ret, saved = self.frames.pop()
        self.regs[6:11] = saved
        return None if ret == RETURN_TO_HOST else ret

    def call_function(self, pointer: int, args: Sequence[int]) -> int:
        """Call the program's function `pointer` (from lddw rX, func) from a helper; returns r0."""
        target = self.function_pc(pointer)
        if target is None:
            raise RuntimeFault(f"{pointer:#x} is not a function of this program", pc=self.pc)
        regs = self.regs
        self._push_frame(RETURN_TO_HOST, self.pc)
        regs[1:6] = [a & M64 for a in args] + [0] * (5 - len(args))
        saved_pc = self.pc
        try:
            return self._loop(target)
        finally:
            self.pc = saved_pc
            self.env.machine = self

    def function_pc(self, pointer: int) -> int | None:
        """The pc a function pointer value stands for, or None."""
        pc = pointer - self.func_base
        return pc if pc in self.function_starts else None

    def _push_frame(self, ret: int, pc: int) -> None:
        # The limit counts this program's own frames: a program a sub-program tail-called starts
        # afresh in the frame it replaced (depth0), as in the kernel.
        frames = self.frames
        if len(frames) + 1 >= MAX_CALL_FRAMES:
            raise RuntimeFault(f"call depth exceeds {MAX_CALL_FRAMES} frames", pc=pc)
        regs = self.regs
        frames.append((ret, regs[6:11]))
        depth = self.depth0 + len(frames)
        stack = self.env.stack
        stack.use(depth + 1)
        regs[10] = stack.top(depth)

    def _traced(self, pc: int, op: Op, tracer: Tracer) -> Op:
        """`op`, telling `tracer` (pc, registers) before it executes (a debugging aid)."""
        regs = self.regs

        def traced() -> int:
            tracer(self, pc, regs)
            return op()

        return traced

    # --- pre-decoding --------------------------------------------------------------------
    def _fell_off(self, pc: int) -> Op:
        def fell_off() -> int:
            raise RuntimeFault("execution fell off the end of the program", pc=pc)

        return fell_off

    def _decode(self, pc: int, insn: Instruction | None) -> Op:
        regs = self.regs
        if insn is None:  # second slot of an lddw: never a jump target after loadcheck
            def middle() -> int:
                raise RuntimeFault("jump into the middle of lddw", pc=pc)

            return middle
        opcode = insn.opcode
        cls = opcode & 0x07
        d, s, off, imm = insn.dst, insn.src, insn.off, insn.imm
        nxt = pc + 1
        if cls == InsnClass.ALU64 or cls == InsnClass.ALU:
            return self._decode_alu(insn, nxt)
        if cls == InsnClass.JMP or cls == InsnClass.JMP32:
            return self._decode_jump(pc, insn)
        if opcode == LDDW:
            target = func_pointer_target(pc, insn)
            value = (self.func_base + target) if target is not None else imm & M64
            nxt2 = pc + 2

            def lddw() -> int:
                regs[d] = value
                return nxt2

            return lddw
        mode = opcode & 0xE0
        size = SIZE_BYTES[opcode & 0x18]
        mem = self.memory
        if cls == InsnClass.LDX:
            return memops.make_load(mem, regs, pc, d, s, off, size, mode == Mode.MEMSX)
        if cls == InsnClass.ST:
            return memops.make_store_imm(mem, regs, pc, d, off, size, imm)
        if cls == InsnClass.STX:
            if mode == Mode.ATOMIC:
                return memops.make_atomic(mem, regs, pc, d, s, off, size, imm)
            return memops.make_store_reg(mem, regs, pc, d, s, off, size)
        if cls == InsnClass.LD and mode in (Mode.ABS, Mode.IND):
            return self._decode_ldpkt(pc, insn, size, mode == Mode.IND)
        raise BpfError(f"cannot decode opcode {opcode:#04x} at pc {pc}")

    def _decode_alu(self, insn: Instruction, nxt: int) -> Op:
        regs = self.regs
        opcode = insn.opcode
        wide = opcode & 0x07 == InsnClass.ALU64
        d, s, imm = insn.dst, insn.src, insn.imm
        if opcode & 0xF0 == 0xD0:  # byte swap
            return self._decode_end(insn, nxt)
        name, reg_source = ops.alu_name(opcode, insn.off)
        k = imm & (M64 if wide else M32)
        return ops.alu_factory(name, wide, reg_source)(regs, d, s, k, nxt)

    def _decode_end(self, insn: Instruction, nxt: int) -> Op:
        regs = self.regs
        d, bits = insn.dst, insn.imm
        mask = (1 << bits) - 1
        swap = insn.opcode & 0x08 or insn.opcode & 0x07 == InsnClass.ALU64  # be / bswap
        if not swap:

            def le() -> int:
                regs[d] &= mask
                return nxt

            return le
        n = bits // 8

        def be() -> int:
            regs[d] = int.from_bytes((regs[d] & mask).to_bytes(n, "little"), "big")
            return nxt

        return be

    def _decode_jump(self, pc: int, insn: Instruction) -> Op:
        regs = self.regs
        opcode = insn.opcode
        d, s, off, imm = insn.dst, insn.src, insn.off, insn.imm
        nxt = pc + 1
        op = opcode & 0xF0
        if opcode == JA or opcode == JA32:
            target = pc + (imm if opcode == JA32 else off) + 1

            def ja() -> int:
                return target

            return ja
        if opcode == EXIT:
            return self._decode_exit()
        if opcode == CALL:
            if s == CallSrc.LOCAL:
                return self._decode_local_call(pc, pc + imm + 1)
            return self._decode_helper_call(pc, imm)
        if opcode == CALLX:
            return self._decode_callx(pc, d)
        wide = opcode & 0x07 == InsnClass.JMP
        reg_source = bool(opcode & 0x08)
        _, signed = ops.JMP_EXPR[op]
        k = imm & (M64 if wide else M32)
        if signed and not reg_source:
            k ^= S64 if wide else S32
        return ops.jmp_factory(op, wide, reg_source)(regs, d, s, k, nxt, pc + off + 1)

    def _decode_exit(self) -> Op:
        regs = self.regs
        frames = self.frames

        def exit_() -> int:
            if frames:
                ret, saved = frames.pop()
                regs[6:11] = saved
                if ret != RETURN_TO_HOST:
                    return ret
            raise _Exit

        return exit_

    def _decode_local_call(self, pc: int, target: int) -> Op:
        push = self._push_frame
        nxt = pc + 1

        def call_local() -> int:
            push(nxt, pc)
            return target

        return call_local

    def _decode_helper_call(self, pc: int, helper_id: int) -> Op:
        regs = self.regs
        env = self.env
        fn = self.helpers[helper_id]
        nxt = pc + 1
        machine = self

        def call_helper() -> int:
            machine.pc = pc
            env.machine = machine
            try:
                regs[0] = fn(env, regs[1], regs[2], regs[3], regs[4], regs[5]) & M64
            except _SIGNALS:
                raise
            except Exception as exc:  # a helper's own bug must not escape as a traceback
                raise RuntimeFault(
                    f"helper {_helper_name(helper_id)} failed: {type(exc).__name__}: {exc}", pc=pc
                ) from exc
            return nxt

        return call_helper

    def _decode_callx(self, pc: int, d: int) -> Op:
        regs = self.regs
        env = self.env
        helpers = self.helpers
        push = self._push_frame
        function_pc = self.function_pc
        nxt = pc + 1
        machine = self

        def callx() -> int:
            value = regs[d]
            target = function_pc(value)
            if target is not None:
                push(nxt, pc)
                return target
            fn = helpers.get(value)
            if fn is None:
                raise RuntimeFault(f"callx to {value:#x}: neither a function nor a helper", pc=pc)
            machine.pc = pc
            env.machine = machine
            regs[0] = fn(env, regs[1], regs[2], regs[3], regs[4], regs[5]) & M64
            return nxt

        return callx

    def _decode_ldpkt(self, pc: int, insn: Instruction, size: int, indirect: bool) -> Op:
        """Legacy ld{abs,ind}{b,h,w}: r0 = big-endian packet bytes; out of range ends with 0."""
        regs = self.regs
        s, imm = insn.src, insn.imm
        machine = self
        env = self.env
        nxt = pc + 1

        def ldpkt() -> int:
            packet = machine.packet
            if packet is None and env.context is not None:
                packet = env.context.packet  # the run's context (also after a tail call)
            if packet is None:
                raise RuntimeFault("legacy packet load without a packet", pc=pc)
            offset = imm + ((ops.sign_extend(regs[s], 32)) if indirect else 0)
            address, length = packet
            if offset < 0 or offset + size > length:
                raise ProgramExit(0)  # the kernel ends the program returning 0
            value = machine.memory.load(address + offset, size, pc)
            if size > 1:
                value = int.from_bytes(value.to_bytes(size, "little"), "big")
            regs[0] = value
            return nxt

        return ldpkt


__all__ = [
    "DEFAULT_BUDGET",
    "Machine",
    "ProgramExit",
    "PseudoSrc",
    "TailCall",
]
