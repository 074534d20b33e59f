"""CO-RE: resolve a program's BTF relocations against a target BTF (the kernel's) and patch its instructions.

A pure function of (program, local BTF, target BTF), following libbpf's relo_core rules: candidates by
essential name (`name___flavour` -> `name`), recursive field-path matching through anonymous members,
field offset/size/existence/signedness/bitfield shifts, type id/existence/size/match, enumerator
existence/value. Unresolvable relocations poison the instruction (`call 0xbad2310`), as libbpf does.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from pybpf.btf.btf import Btf
from pybpf.btf.core_compat import (
    _kind_compat,
    _skip,
    essential_name,
    fields_compat,
    types_compat,
    types_match,
)
from pybpf.btf.ext import CoreRelo, CoreReloKind
from pybpf.btf.types import BtfType, Kind
from pybpf.errors import ObjectError
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import LDDW

POISON_IMM = 0xBAD2310
MAX_SPEC_LEN = 64
_MAX_DEPTH = 32

FIELD_KINDS = frozenset({CoreReloKind.FIELD_BYTE_OFFSET, CoreReloKind.FIELD_BYTE_SIZE, CoreReloKind.FIELD_EXISTS,
                         CoreReloKind.FIELD_SIGNED, CoreReloKind.FIELD_LSHIFT_U64, CoreReloKind.FIELD_RSHIFT_U64})
TYPE_KINDS = frozenset({CoreReloKind.TYPE_ID_LOCAL, CoreReloKind.TYPE_ID_TARGET, CoreReloKind.TYPE_EXISTS,
                        CoreReloKind.TYPE_SIZE, CoreReloKind.TYPE_MATCHES})
ENUM_KINDS = frozenset({CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.ENUMVAL_VALUE})


class CoreError(ObjectError):
    """A CO-RE relocation that cannot be applied (bad record, ambiguous match, unexpected instruction)."""


@dataclass
class Accessor:
    type_id: int  # the composite/array/enum type the access is made in
    idx: int
    name: str = ""


@dataclass
class Spec:
    """An access path: named accessors, raw indices (anonymous members included) and the bit offset."""

    btf: Btf
    root_type_id: int
    accessors: list[Accessor] = field(default_factory=list)
    raw: list[int] = field(default_factory=list)
    bit_offset: int = 0


@dataclass(frozen=True, slots=True)
class CoreResult:
    """The outcome of one relocation: the compiled (local) value and the value for the target."""

    insn_off: int
    kind: CoreReloKind
    access_str: str
    local_value: int
    target_value: int
    poison: bool = False
    validate: bool = True
    local_size: int = 0
    target_size: int = 0
    fail_memsz_adjust: bool = False
    target_type_id: int = 0


# -- local spec ------------------------------------------------------------------------------


def parse_spec(btf: Btf, type_id: int, access: str, kind: CoreReloKind) -> Spec:
    """Parse an access string ("0:1:2") against the local type, as bpf_core_parse_spec."""
    try:
        raw = [int(x) for x in access.split(":")] if access else []
    except ValueError:
        raise CoreError(f"bad CO-RE access string {access!r}") from None
    if not raw or len(raw) > MAX_SPEC_LEN or any(x < 0 for x in raw):
        raise CoreError(f"bad CO-RE access string {access!r}")
    spec = Spec(btf, type_id, raw=list(raw))
    if kind in TYPE_KINDS:
        if access != "0":
            raise CoreError(f"type-based CO-RE relocation with access string {access!r} (expected '0')")
        return spec
    t, tid = _skip(btf, type_id)
    spec.accessors.append(Accessor(tid, raw[0]))
    if kind in ENUM_KINDS:
        if t.kind not in (Kind.ENUM, Kind.ENUM64) or len(raw) > 1 or raw[0] >= len(t.values):
            raise CoreError(f"enum CO-RE relocation on type {type_id} with access {access!r} is invalid")
        spec.accessors[0].name = t.values[raw[0]].name
        return spec
    if kind not in FIELD_KINDS:
        raise CoreError(f"unknown CO-RE relocation kind {kind}")
    spec.bit_offset = raw[0] * btf.sizeof(tid) * 8
    for i in range(1, len(raw)):
        t, tid = _skip(btf, tid)
        idx = raw[i]
        if t.is_composite:
            if idx >= len(t.members):
                raise CoreError(f"CO-RE access {access!r}: member {idx} of type {tid} does not exist")
            m = t.members[idx]
            spec.bit_offset += m.bit_offset
            if m.name:
                spec.accessors.append(Accessor(tid, idx, m.name))
            tid = m.type_id
        elif t.kind == Kind.ARRAY:
            elem, eid = _skip(btf, t.elem_type)
            flex = _is_flex(btf, spec.accessors[-1] if spec.accessors else None, t)
            if not flex and idx >= t.nelems:
                raise CoreError(f"CO-RE access {access!r}: index {idx} is beyond array of {t.nelems}")
            spec.accessors.append(Accessor(eid, idx))
            spec.bit_offset += idx * btf.sizeof(eid) * 8
            tid = eid
        else:
            raise CoreError(f"CO-RE access {access!r} goes through type {tid} of kind {t.kind.name}")
    return spec


def _is_flex(btf: Btf, acc: Accessor | None, arr: BtfType) -> bool:
    """A zero-length array that is the last member of its struct."""
    if arr.nelems != 0 or acc is None or not acc.name:
        return False
    t = btf.type(acc.type_id)
    return t.is_composite and acc.idx == len(t.members) - 1


# -- target matching -----------------------------------------------------------------------


def _match_member(local: Spec, acc: Accessor, tb: Btf, targ_id: int, targ: Spec, depth: int = 0
                  ) -> tuple[bool, int]:
    """bpf_core_match_member: find the local accessor's member in target type (through anonymous ones)."""
    lt = local.btf.type(acc.type_id)
    lmember = lt.members[acc.idx]
    tt, targ_id = _skip(tb, targ_id)
    if not tt.is_composite or depth > _MAX_DEPTH:
        return False, 0
    for i, m in enumerate(tt.members):
        if len(targ.raw) >= MAX_SPEC_LEN:
            raise CoreError("CO-RE access path too deep")
        targ.bit_offset += m.bit_offset
        targ.raw.append(i)
        if not m.name:
            found, nxt = _match_member(local, acc, tb, m.type_id, targ, depth + 1)
            if found:
                return True, nxt
        elif m.name == lmember.name:
            if fields_compat(local.btf, lmember.type_id, tb, m.type_id):
                targ.accessors.append(Accessor(targ_id, i, m.name))
                return True, m.type_id
            targ.bit_offset -= m.bit_offset
            targ.raw.pop()
            return False, 0
        targ.bit_offset -= m.bit_offset
        targ.raw.pop()
    return False, 0


def match_spec(local: Spec, kind: CoreReloKind, tb: Btf, cand_id: int) -> Spec | None:
    """The target spec for candidate root type `cand_id`, or None when it does not match."""
    targ = Spec(tb, cand_id)
    if kind in TYPE_KINDS:
        if kind == CoreReloKind.TYPE_MATCHES:
            ok = types_match(local.btf, local.root_type_id, tb, cand_id)
        else:
            ok = types_compat(local.btf, local.root_type_id, tb, cand_id)
        return targ if ok else None
    if kind in ENUM_KINDS:
        tt, tid = _skip(tb, cand_id)
        if tt.kind not in (Kind.ENUM, Kind.ENUM64):
            return None
        lname = local.accessors[0].name
        for i, v in enumerate(tt.values):
            if v.name and essential_name(v.name) == essential_name(lname):
                targ.accessors.append(Accessor(tid, i, v.name))
                targ.raw.append(i)
                return targ
        return None
    targ_id = cand_id
    for i, acc in enumerate(local.accessors):
        if acc.name:
            ok, targ_id = _match_member(local, acc, tb, targ_id, targ)
            if not ok:
                return None
            continue
        if i > 0:
            tt, _ = _skip(tb, targ_id)
            if tt.kind != Kind.ARRAY:
                return None
            flex = _is_flex(tb, targ.accessors[-1] if targ.accessors else None, tt)
            if not flex and acc.idx >= tt.nelems:
                return None
            _, targ_id = _skip(tb, tt.elem_type)
        else:
            _, targ_id = _skip(tb, targ_id)
        if len(targ.raw) >= MAX_SPEC_LEN:
            raise CoreError("CO-RE access path too deep")
        targ.accessors.append(Accessor(targ_id, acc.idx))
        targ.raw.append(acc.idx)
        targ.bit_offset += acc.idx * tb.sizeof(targ_id) * 8
    return targ


_essential_cache: weakref.WeakKeyDictionary[Btf, dict[str, list[str]]] = weakref.WeakKeyDictionary()


def _essential_index(target: Btf) -> dict[str, list[str]]:
    index = _essential_cache.get(target)
    if index is None:
        index = {}
        for name in target.names():
            index.setdefault(essential_name(name), []).append(name)
        _essential_cache[target] = index
    return index


def candidates(local_btf: Btf, local_id: int, target: Btf) -> list[int]:
    """Target type ids whose essential name and kind match the local type's."""
    lt = local_btf.type(local_id)
    if not lt.name:
        raise CoreError(f"CO-RE relocation against anonymous local type {local_id}")
    names = _essential_index(target).get(essential_name(lt.name), [])
    ids = {t.id for n in names for t in target.find_all(n)}
    return sorted(tid for tid in ids if _kind_compat(lt, target.type(tid)))


# -- values --------------------------------------------------------------------------------


@dataclass
class _Value:
    value: int
    validate: bool = True
    size: int = 0
    type_id: int = 0
    poison: bool = False


def _field_value(spec: Spec | None, kind: CoreReloKind) -> _Value:
    if kind == CoreReloKind.FIELD_EXISTS:
        return _Value(1 if spec is not None else 0)
    if spec is None:
        return _Value(0, poison=True)
    btf = spec.btf
    acc = spec.accessors[-1]
    if not acc.name:
        if kind == CoreReloKind.FIELD_BYTE_OFFSET:
            return _Value(spec.bit_offset // 8, True, btf.sizeof(acc.type_id), acc.type_id)
        if kind == CoreReloKind.FIELD_BYTE_SIZE:
            return _Value(btf.sizeof(acc.type_id))
        raise CoreError(f"CO-RE relocation {kind.name} cannot be applied to an array access")
    t = btf.type(acc.type_id)
    m = t.members[acc.idx]
    mt, field_type_id = _skip(btf, m.type_id)
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size
    if bit_sz:
        byte_sz = mt.size
        if byte_sz <= 0:
            raise CoreError(f"bitfield {m.name!r} has a type without size")
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise CoreError(f"bitfield {m.name!r} cannot be read with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = btf.sizeof(field_type_id)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not m.bitfield_size
    if kind == CoreReloKind.FIELD_BYTE_OFFSET:
        if m.bitfield_size:
            return _Value(byte_off, validate)
        return _Value(byte_off, validate, byte_sz, field_type_id)
    if kind == CoreReloKind.FIELD_BYTE_SIZE:
        return _Value(byte_sz, validate)
    if kind == CoreReloKind.FIELD_SIGNED:
        return _Value(int(mt.is_signed), True)
    if kind == CoreReloKind.FIELD_LSHIFT_U64:
        return _Value(64 - (bit_off + bit_sz - byte_off * 8), validate)
    if kind == CoreReloKind.FIELD_RSHIFT_U64:
        return _Value(64 - bit_sz, True)
    raise CoreError(f"unsupported field relocation {kind.name}")


def _type_value(spec: Spec | None, kind: CoreReloKind) -> _Value:
    if spec is None:
        return _Value(0)
    if kind == CoreReloKind.TYPE_ID_TARGET:
        return _Value(spec.root_type_id)
    if kind in (CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_MATCHES):
        return _Value(1)
    if kind == CoreReloKind.TYPE_SIZE:
        return _Value(spec.btf.sizeof(spec.root_type_id))
    raise CoreError(f"unsupported type relocation {kind.name}")


def _enum_value(spec: Spec | None, kind: CoreReloKind) -> _Value:
    if kind == CoreReloKind.ENUMVAL_EXISTS:
        return _Value(1 if spec is not None else 0)
    if spec is None:
        return _Value(0, poison=True)
    acc = spec.accessors[0]
    return _Value(spec.btf.type(acc.type_id).values[acc.idx].value)


def _value(spec: Spec | None, kind: CoreReloKind) -> _Value:
    if kind in FIELD_KINDS:
        return _field_value(spec, kind)
    if kind in TYPE_KINDS:
        return _type_value(spec, kind)
    return _enum_value(spec, kind)


def resolve_one(relo: CoreRelo, local_btf: Btf, target_btf: Btf) -> CoreResult:
    """Resolve one relocation record."""
    kind = relo.kind
    access = relo.access_str
    local = parse_spec(local_btf, relo.type_id, access, kind)
    if kind == CoreReloKind.TYPE_ID_LOCAL:
        return CoreResult(relo.insn_off, kind, access, relo.type_id, relo.type_id)
    lv = _value(local, kind)
    chosen: Spec | None = None
    tv: _Value | None = None
    for cand in candidates(local_btf, relo.type_id, target_btf):
        targ = match_spec(local, kind, target_btf, cand)
        if targ is None:
            continue
        val = _value(targ, kind)
        if tv is None:
            chosen, tv = targ, val
        elif val.value != tv.value or val.poison != tv.poison:
            raise CoreError(
                f"CO-RE relocation {kind.name} at insn {relo.insn_off} ({access}) is ambiguous: "
                f"types {chosen.root_type_id if chosen else 0} and {cand} give {tv.value} and {val.value}"
            )
    if tv is None:
        tv = _value(None, kind)
    fail_memsz = False
    if kind == CoreReloKind.FIELD_BYTE_OFFSET and lv.size and tv.size and lv.size != tv.size:
        lt = local_btf.type(lv.type_id)
        tt = target_btf.type(tv.type_id)
        ok = (lt.kind == Kind.PTR and tt.kind == Kind.PTR) or (
            lt.kind == Kind.INT and tt.kind == Kind.INT and not lt.is_signed and not tt.is_signed)
        fail_memsz = not ok
    return CoreResult(relo.insn_off, kind, access, lv.value, tv.value, tv.poison, lv.validate and tv.validate,
                      lv.size, tv.size, fail_memsz, chosen.root_type_id if chosen is not None else 0)


def resolve(program_spec: object, local_btf: Btf | None = None, target_btf: Btf | None = None) -> list[CoreResult]:
    """Resolve every CO-RE relocation of a ProgramSpec (insn_off in the program's slots)."""
    local = local_btf if local_btf is not None else getattr(program_spec, "btf", None)
    relos: Sequence[CoreRelo] = getattr(program_spec, "core_relos", ())
    if not relos:
        return []
    if not isinstance(local, Btf):
        raise CoreError("program has CO-RE relocations but no BTF")
    if target_btf is None:
        from pybpf.btf.vmlinux import load_vmlinux

        target_btf = load_vmlinux()
    return [resolve_one(r, local, target_btf) for r in relos]


# -- patching ------------------------------------------------------------------------------

_SIZE_CODE = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}


def _poison() -> Instruction:
    return Instruction(0x85, 0, 0, 0, POISON_IMM)


def patch(insns: Sequence[Instruction], results: Sequence[CoreResult], name: str = "") -> list[Instruction]:
    """Apply resolved relocations to instructions (lddw counts 2 slots); returns a new list."""
    index: dict[int, int] = {}
    pc = 0
    for n, insn in enumerate(insns):
        index[pc] = n
        pc += insn.slots
    out: list[Instruction | tuple[Instruction, Instruction]] = list(insns)
    where = f"program {name!r}: " if name else ""
    for r in results:
        found = index.get(r.insn_off)
        if found is None:
            raise CoreError(f"{where}CO-RE relocation at insn {r.insn_off} does not point at an instruction")
        i = found
        insn = insns[i]
        if r.poison:
            out[i] = (_poison(), _poison()) if insn.opcode == LDDW else _poison()
            continue
        cls = insn.opcode & 7
        if cls in (4, 7):  # ALU, ALU64
            if insn.opcode & 0x08:
                raise CoreError(f"{where}CO-RE relocation on insn {r.insn_off}: ALU with a register source")
            if r.validate and (insn.imm & 0xFFFFFFFF) != (r.local_value & 0xFFFFFFFF):
                raise CoreError(f"{where}unexpected insn #{r.insn_off} (ALU/ALU64) value: got {insn.imm}, "
                                f"exp {r.local_value} -> {r.target_value}")
            imm = r.target_value & 0xFFFFFFFF
            out[i] = insn.replace(imm=imm - (1 << 32) if imm >= 1 << 31 else imm)
        elif cls in (1, 2, 3):  # LDX, ST, STX
            if r.validate and insn.off != r.local_value:
                raise CoreError(f"{where}unexpected insn #{r.insn_off} (LDX/ST/STX) value: got {insn.off}, "
                                f"exp {r.local_value} -> {r.target_value}")
            if r.target_value > 0x7FFF:
                raise CoreError(f"{where}insn #{r.insn_off} (LDX/ST/STX) value too big: {r.target_value}")
            if r.fail_memsz_adjust:
                out[i] = _poison()
                continue
            new = insn.replace(off=r.target_value)
            if r.kind == CoreReloKind.FIELD_BYTE_OFFSET and r.target_size and r.target_size != r.local_size:
                if insn.size != r.local_size:
                    raise CoreError(f"{where}insn #{r.insn_off} (LDX/ST/STX) unexpected mem size: got "
                                    f"{insn.size}, exp {r.local_size}")
                if r.target_size not in _SIZE_CODE:
                    raise CoreError(f"{where}insn #{r.insn_off} (LDX/ST/STX) invalid new mem size: {r.target_size}")
                new = new.replace(opcode=(insn.opcode & ~0x18) | _SIZE_CODE[r.target_size])
            out[i] = new
        elif insn.opcode == LDDW:
            if insn.src or insn.off:
                raise CoreError(f"{where}insn #{r.insn_off} (LDIMM64) has a pseudo source")
            if r.validate and insn.imm != r.local_value & 0xFFFFFFFFFFFFFFFF:
                raise CoreError(f"{where}unexpected insn #{r.insn_off} (LDIMM64) value: got {insn.imm}, "
                                f"exp {r.local_value} -> {r.target_value}")
            out[i] = insn.replace(imm=r.target_value & 0xFFFFFFFFFFFFFFFF)
        else:
            raise CoreError(f"{where}trying to relocate unrecognized insn #{r.insn_off}, code:{insn.opcode:#x}")
    flat: list[Instruction] = []
    for item in out:
        if isinstance(item, tuple):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def apply_relocations(program_spec: object, insns: Sequence[Instruction] | None = None,
                      target_btf: Btf | None = None) -> list[Instruction]:
    """The program's instructions with every CO-RE relocation applied for `target_btf` (default: vmlinux)."""
    code = list(insns if insns is not None else getattr(program_spec, "instructions", ()))
    results = resolve(program_spec, None, target_btf)
    return patch(code, results, getattr(program_spec, "name", ""))


relocate = apply_relocations
