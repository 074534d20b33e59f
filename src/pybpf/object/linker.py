"""Static linking of bpf-to-bpf calls: append each called sub-program to a program and fix call offsets."""

from __future__ import annotations

from dataclasses import dataclass, field

from pybpf.btf.ext import BtfExt, CoreRelo, FuncInfo, LineInfo
from pybpf.errors import AssemblyError, ObjectError
from pybpf.isa.instruction import Instruction, decode, func_pointer_target
from pybpf.isa.opcodes import CALL, LDDW
from pybpf.object.elf import Section
from pybpf.object.relocations import (
    PSEUDO_BTF_ID,
    PSEUDO_CALL,
    PSEUDO_FUNC,
    PSEUDO_KFUNC_CALL,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_VALUE,
    CodeTarget,
    ExternCall,
    KsymVar,
    MapTarget,
    Target,
)
from pybpf.object.spec import MapReference


@dataclass
class Function:
    """A function symbol in a code section: [start, start + length) in instruction slots."""

    name: str
    section: int
    start: int
    length: int
    is_global: bool = True


@dataclass
class CodeSection:
    """A decoded executable section with its functions and resolved relocations (keyed by slot)."""

    section: Section
    insns: list[Instruction]
    slot_index: dict[int, int]
    functions: list[Function] = field(default_factory=list)
    targets: dict[int, Target] = field(default_factory=dict)

    @classmethod
    def decode(cls, section: Section, data: bytes, objname: str) -> CodeSection:
        """Decode a section's bytecode; bad bytecode becomes an ObjectError naming the section."""
        if len(data) % 8:
            raise ObjectError(f"{objname}: code section {section.name!r} size {len(data)} is not a multiple of 8")
        try:
            insns = decode(data)
        except AssemblyError as exc:
            raise ObjectError(f"{objname}: section {section.name!r}: {exc}") from None
        slot_index: dict[int, int] = {}
        pc = 0
        for i, insn in enumerate(insns):
            slot_index[pc] = i
            pc += insn.slots
        return cls(section, insns, slot_index)

    @property
    def nslots(self) -> int:
        return self.section.size // 8

    def function_at(self, slot: int) -> Function | None:
        """The function whose body contains this slot."""
        for f in self.functions:
            if f.start <= slot < f.start + f.length:
                return f
        return None


@dataclass
class LinkedProgram:
    """The result of linking one entry function."""

    instructions: list[Instruction]
    map_references: list[MapReference]
    func_infos: list[FuncInfo]
    line_infos: list[LineInfo]
    core_relos: list[CoreRelo]
    called: list[Function]
    extern_calls: list[tuple[int, str]] = field(default_factory=list)


def link(entry: Function, sections: dict[int, CodeSection], ext: BtfExt | None, objname: str,
         kfuncs: dict[str, int] | None = None, helpers: dict[str, int] | None = None) -> LinkedProgram:
    """Link `entry` with every function it (transitively) calls or takes the address of.

    `kfuncs` maps extern function names to their vmlinux BTF ids (calls to them become kfunc calls);
    `helpers` maps extern function names to helper ids (calls to them become helper calls).
    """
    kfuncs = kfuncs or {}
    helpers = helpers or {}
    out: list[Instruction] = []
    refs: list[MapReference] = []
    placed: dict[tuple[int, int], int] = {}  # (section, function start) -> program pc
    order: list[Function] = []
    pending: list[Function] = [entry]
    fixups: list[tuple[int, int, CodeTarget]] = []  # (index in out, pc, target)
    externs: list[tuple[int, str]] = []
    pc = 0
    while pending:
        func = pending.pop(0)
        key = (func.section, func.start)
        if key in placed:
            continue
        code = sections[func.section]
        placed[key] = pc
        order.append(func)
        slot = func.start
        end = func.start + func.length
        while slot < end:
            idx = code.slot_index.get(slot)
            if idx is None:
                raise ObjectError(f"{objname}: function {func.name!r} starts inside an lddw in {code.section.name!r}")
            insn = code.insns[idx]
            if slot + insn.slots > end:
                raise ObjectError(f"{objname}: lddw at {code.section.name!r} slot {slot} crosses the end of {func.name!r}")
            target = code.targets.get(slot)
            if target is None and insn.opcode == CALL and insn.src == PSEUDO_CALL:
                target = CodeTarget("call", func.section, slot + insn.imm + 1)
            elif target is None and insn.opcode == LDDW and insn.src == PSEUDO_FUNC:
                target = CodeTarget("func", func.section, func_pointer_target(slot, insn))
            if isinstance(target, ExternCall) and target.name in helpers and target.name not in kfuncs:
                insn = insn.replace(src=0, off=0, imm=helpers[target.name])  # `call <helper id>`
            elif isinstance(target, ExternCall):
                externs.append((pc, target.name))
                if target.name in kfuncs:  # a kernel function: BPF_PSEUDO_KFUNC_CALL with its vmlinux id
                    insn = insn.replace(src=PSEUDO_KFUNC_CALL, off=0, imm=kfuncs[target.name])
            elif isinstance(target, KsymVar):
                # BPF_PSEUDO_BTF_ID with the vmlinux id; an absent weak symbol loads the constant 0.
                insn = insn.replace(src=PSEUDO_BTF_ID if target.btf_id else 0, imm=target.btf_id)
            elif isinstance(target, MapTarget):
                if target.kind == "fd":
                    insn = insn.replace(src=PSEUDO_MAP_FD, imm=0)
                else:
                    insn = insn.replace(src=PSEUDO_MAP_VALUE, imm=target.offset << 32)
                refs.append(MapReference(pc, target.map_name, target.kind, target.offset))
            elif isinstance(target, CodeTarget):
                callee = _callee(target, sections, objname, code.section.name, slot)
                if (callee.section, callee.start) not in placed and callee not in pending:
                    pending.append(callee)
                fixups.append((len(out), pc, target))
            out.append(insn)
            pc += insn.slots
            slot += insn.slots
    for index, at, target in fixups:
        callee = _callee(target, sections, objname, "", at)
        dest = placed[(callee.section, callee.start)] + (target.slot - callee.start)
        insn = out[index]
        if target.kind == "call":
            out[index] = insn.replace(src=PSEUDO_CALL, imm=dest - at - 1)
        else:
            # the offset is insn[0].imm (s32); insn[1].imm stays 0 as the kernel requires
            out[index] = insn.replace(src=PSEUDO_FUNC, imm=(dest - at - 1) & 0xFFFFFFFF)
    fis, lis, crs = _ext_records(order, placed, sections, ext)
    return LinkedProgram(out, refs, fis, lis, crs, order[1:], externs)


def _callee(target: CodeTarget, sections: dict[int, CodeSection], objname: str, secname: str, slot: int) -> Function:
    code = sections.get(target.section)
    where = f"{objname}: {secname}+{slot * 8}" if secname else objname
    if code is None:
        raise ObjectError(f"{where}: call into a section that is not code")
    if not 0 <= target.slot < code.nslots:
        raise ObjectError(f"{where}: call target slot {target.slot} is outside {code.section.name!r}")
    func = code.function_at(target.slot)
    if func is None:
        raise ObjectError(f"{where}: call target {code.section.name}+{target.slot * 8} is not inside a function")
    return func


def _ext_records(
    order: list[Function], placed: dict[tuple[int, int], int], sections: dict[int, CodeSection],
    ext: BtfExt | None,
) -> tuple[list[FuncInfo], list[LineInfo], list[CoreRelo]]:
    fis: list[FuncInfo] = []
    lis: list[LineInfo] = []
    crs: list[CoreRelo] = []
    if ext is None:
        return fis, lis, crs
    for func in order:
        name = sections[func.section].section.name
        delta = placed[(func.section, func.start)] - func.start
        lo, hi = func.start, func.start + func.length
        for fi in ext.func_info.get(name, ()):
            if lo <= fi.insn_off < hi:
                fis.append(FuncInfo(fi.insn_off + delta, fi.type_id))
        for li in ext.line_info.get(name, ()):
            if lo <= li.insn_off < hi:
                lis.append(LineInfo(li.insn_off + delta, li.file_name_off, li.line_off, li.line_col,
                                    li.file_name, li.line))
        for cr in ext.core_relos.get(name, ()):
            if lo <= cr.insn_off < hi:
                crs.append(CoreRelo(cr.insn_off + delta, cr.type_id, cr.access_str_off, cr.kind, cr.access_str))
    fis.sort(key=lambda r: r.insn_off)
    lis.sort(key=lambda r: r.insn_off)
    crs.sort(key=lambda r: r.insn_off)
    return fis, lis, crs
