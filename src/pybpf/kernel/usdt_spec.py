"""USDT spec values: a probe's argument specs encoded as the `struct __bpf_usdt_spec` that
usdt.bpf.h's BPF_USDT()/bpf_usdt_arg() decode at run time (the value of the `__bpf_usdt_specs` map).

The layout comes from the object's BTF (member names of `struct __bpf_usdt_spec` and
`struct __bpf_usdt_arg_spec`, bitfields included), so both pybpf's header and libbpf's own
(whose arg spec packs arg_type, idx_reg_off and scale_bitshift into bitfields) are written right;
without BTF, the layout of the header pybpf ships is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pybpf.btf.btf import Btf
from pybpf.btf.types import Kind
from pybpf.errors import LoadError
from pybpf.object.stapsdt import UsdtArg

# enum __bpf_usdt_arg_type
ARG_CONST, ARG_REG, ARG_REG_DEREF, ARG_SIB = 0, 1, 2, 3
_ARG_TYPES = {"const": ARG_CONST, "reg": ARG_REG, "mem": ARG_REG_DEREF, "sib": ARG_SIB}
MAX_ARGS = 12

Fields = Mapping[str, tuple[int, int]]  # member name -> (bit offset, bit size)

# pybpf's usdt.bpf.h without BTF: struct __bpf_usdt_arg_spec is 24 bytes, struct __bpf_usdt_spec 304
_DEFAULT_ARG = {"val_off": (0, 64), "arg_type": (64, 32), "reg_off": (96, 16), "idx_reg_off": (112, 16),
                "scale_bitshift": (128, 8), "arg_signed": (136, 8), "arg_bitshift": (144, 8)}


@dataclass(frozen=True)
class SpecLayout:
    """Where each field of a spec value lives (bit offsets within the value)."""

    size: int  # bytes of struct __bpf_usdt_spec
    args_offset: int  # bit offset of args[0]
    arg_stride: int  # bits between args[i] and args[i + 1]
    max_args: int
    arg_fields: Fields
    cookie: tuple[int, int]
    arg_cnt: tuple[int, int]


DEFAULT_LAYOUT = SpecLayout(304, 0, 24 * 8, MAX_ARGS, _DEFAULT_ARG, (288 * 8, 64), (296 * 8, 16))


def _fields(btf: Btf, type_id: int) -> dict[str, tuple[int, int]]:
    t = btf.skip_modifiers(type_id)
    out = {}
    for m in t.members:
        bits = m.bitfield_size or btf.sizeof(m.type_id) * 8
        out[m.name] = (m.bit_offset, bits)
    return out


def layout_from_btf(btf: Btf | None, value_type_id: int, value_size: int) -> SpecLayout:
    """The layout of the specs map's value type, or pybpf's own when the object carries no BTF for it."""
    if btf is None or not value_type_id:
        if value_size != DEFAULT_LAYOUT.size:
            raise LoadError(f"__bpf_usdt_specs values are {value_size} bytes and the object has no BTF for them "
                            f"(usdt.bpf.h's struct __bpf_usdt_spec is {DEFAULT_LAYOUT.size})")
        return DEFAULT_LAYOUT
    spec = btf.skip_modifiers(value_type_id)
    if spec.kind != Kind.STRUCT:
        raise LoadError("__bpf_usdt_specs: the value type is not struct __bpf_usdt_spec")
    members = {m.name: m for m in spec.members}
    missing = {"args", "usdt_cookie", "arg_cnt"} - set(members)
    if missing:
        raise LoadError(f"__bpf_usdt_specs: struct {spec.name} has no member {sorted(missing)[0]!r}")
    arr = btf.skip_modifiers(members["args"].type_id)
    if arr.kind != Kind.ARRAY:
        raise LoadError("__bpf_usdt_specs: member 'args' is not an array")
    stride = btf.sizeof(arr.elem_type) * 8
    arg_fields = _fields(btf, arr.elem_type)
    for need in ("val_off", "arg_type", "reg_off", "arg_signed", "arg_bitshift"):
        if need not in arg_fields:
            raise LoadError(f"__bpf_usdt_specs: the argument spec has no member {need!r}")
    top = _fields(btf, value_type_id)
    return SpecLayout(btf.sizeof(value_type_id), members["args"].bit_offset, stride, arr.nelems, arg_fields,
                      top["usdt_cookie"], top["arg_cnt"])


def _put(value: int, where: tuple[int, int], field: int) -> int:
    off, bits = where
    mask = (1 << bits) - 1
    return (value & ~(mask << off)) | ((field & mask) << off)


def encode_spec(args: tuple[UsdtArg, ...], cookie: int = 0, layout: SpecLayout = DEFAULT_LAYOUT) -> bytes:
    """The spec value of one probe site: how to find each argument, and the user's cookie."""
    if len(args) > layout.max_args:
        raise LoadError(f"USDT probe has {len(args)} arguments; usdt.bpf.h reads at most {layout.max_args}")
    v = 0
    for i, a in enumerate(args):
        base = layout.args_offset + i * layout.arg_stride
        f = layout.arg_fields

        def put(name: str, field: int, *, _base: int = base, _f: Fields = f) -> None:
            off, bits = _f[name]
            nonlocal v
            v = _put(v, (_base + off, bits), field)

        if a.kind == "sib":
            if "idx_reg_off" not in f or "scale_bitshift" not in f:
                raise LoadError(f"USDT argument {a.text!r}: the object's usdt.bpf.h cannot read indexed "
                                "(base, index, scale) operands")
            put("idx_reg_off", a.index_pt_regs_offset)
            put("scale_bitshift", a.scale.bit_length() - 1)
        put("arg_type", _ARG_TYPES[a.kind])
        put("val_off", a.offset)
        put("reg_off", a.pt_regs_offset if a.kind != "const" else 0)
        put("arg_signed", int(a.signed))
        put("arg_bitshift", 64 - 8 * a.size)
    v = _put(v, layout.cookie, cookie)
    v = _put(v, layout.arg_cnt, len(args))
    return v.to_bytes(layout.size, "little")
