"""Decode raw bytes by BTF type into JSON-able Python values (like bpftool's map dump) and format them as text."""

from __future__ import annotations

import json
import struct
from typing import Any

from pybpf.btf.btf import Btf
from pybpf.btf.types import INT_BOOL, INT_CHAR, Kind
from pybpf.errors import ObjectError

_MAX_DEPTH = 32


def _int_from(data: bytes, offset: int, size: int, signed: bool) -> int:
    if offset < 0 or offset + size > len(data):
        raise ObjectError(f"value too short: need {size} bytes at offset {offset}, have {len(data)}")
    return int.from_bytes(data[offset : offset + size], "little", signed=signed)


def _bitfield(data: bytes, bit_offset: int, bits: int, signed: bool) -> int:
    first = bit_offset // 8
    last = (bit_offset + bits + 7) // 8
    raw = _int_from(data, first, last - first, False) >> (bit_offset % 8)
    value = raw & ((1 << bits) - 1)
    if signed and bits and value >> (bits - 1):
        value -= 1 << bits
    return value


def decode_value(btf: Btf, type_id: int, data: bytes, offset: int = 0, depth: int = 0) -> Any:
    """The value of type `type_id` stored at `offset` of `data` as Python data.

    Integers are ints (bool for _Bool), char arrays are strings (up to the first NUL), other arrays
    lists, structs and unions dicts by member name, enums the enumerator name when one matches,
    pointers ints, floats floats, DATASECs dicts by variable name.
    """
    if depth > _MAX_DEPTH:
        raise ObjectError(f"BTF type {type_id}: nesting too deep to print")
    t = btf.skip_modifiers(type_id)
    k = t.kind
    if k == Kind.INT:
        if t.bits < t.size * 8 or t.bit_offset:
            return _bitfield(data[offset : offset + t.size], t.bit_offset, t.bits, t.is_signed)
        value = _int_from(data, offset, t.size, t.is_signed)
        if t.encoding & INT_BOOL:
            return bool(value)
        return value
    if k == Kind.PTR:
        return _int_from(data, offset, 8, False)
    if k in (Kind.ENUM, Kind.ENUM64):
        value = _int_from(data, offset, t.size, t.is_signed)
        for v in t.values:
            if v.value == value or (v.value & ((1 << (8 * t.size)) - 1)) == value:
                return v.name
        return value
    if k == Kind.FLOAT:
        if offset + t.size > len(data):
            raise ObjectError(f"value too short for a {t.size}-byte float")
        if t.size == 4:
            return struct.unpack_from("<f", data, offset)[0]
        if t.size == 8:
            return struct.unpack_from("<d", data, offset)[0]
        return data[offset : offset + t.size].hex()
    if k == Kind.ARRAY:
        elem = btf.skip_modifiers(t.elem_type)
        esize = btf.sizeof(t.elem_type)
        if elem.kind == Kind.INT and esize == 1 and (elem.encoding & INT_CHAR or elem.name in ("char", "signed char")):
            raw = data[offset : offset + t.nelems]
            if len(raw) < t.nelems:
                raise ObjectError("value too short for its char array")
            text = raw.split(b"\0", 1)[0]
            try:
                return text.decode("utf-8")
            except UnicodeDecodeError:
                return list(raw)
        return [decode_value(btf, t.elem_type, data, offset + i * esize, depth + 1) for i in range(t.nelems)]
    if k in (Kind.STRUCT, Kind.UNION):
        out: dict[str, Any] = {}
        for i, m in enumerate(t.members):
            name = m.name or f"__anon{i}"
            if m.bitfield_size:
                mt = btf.skip_modifiers(m.type_id)
                size = btf.sizeof(m.type_id)
                base = offset + (m.bit_offset // 8 // size) * size
                value = _bitfield(data[base : base + size], m.bit_offset - (base - offset) * 8, m.bitfield_size,
                                  mt.is_signed)
                out[name] = value
                continue
            value = decode_value(btf, m.type_id, data, offset + m.bit_offset // 8, depth + 1)
            if not m.name and isinstance(value, dict):
                out.update(value)  # anonymous struct/union members are flattened, as in C
            else:
                out[name] = value
        return out
    if k == Kind.DATASEC:
        out = {}
        for info in t.secinfos:
            var = btf.type(info.type_id)
            out[var.name] = decode_value(btf, var.type_id, data, offset + info.offset, depth + 1)
        return out
    if k == Kind.VAR:
        return decode_value(btf, t.type_id, data, offset, depth + 1)
    if k == Kind.VOID:
        return data[offset:].hex()
    raise ObjectError(f"BTF type {type_id} ({k.name}) has no value representation")


def format_value(btf: Btf, type_id: int, data: bytes) -> str:
    """The value as indented JSON text."""
    return json.dumps(decode_value(btf, type_id, data), indent=4)


def encode_value(btf: Btf, type_id: int, value: Any) -> bytes:
    """The inverse of decode_value for integers, enums, char arrays, arrays and structs (bitfields included)."""
    size = btf.sizeof(type_id)
    if size > 1 << 28:
        raise ObjectError(f"BTF type {type_id} is too large to encode a value for ({size} bytes)")
    out = bytearray(size)
    _encode_into(btf, type_id, value, out, 0, 0)
    return bytes(out)


def _encode_into(btf: Btf, type_id: int, value: Any, out: bytearray, offset: int, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ObjectError("value nesting too deep")
    t = btf.skip_modifiers(type_id)
    k = t.kind
    if k in (Kind.INT, Kind.PTR, Kind.ENUM, Kind.ENUM64):
        size = 8 if k == Kind.PTR else t.size
        if isinstance(value, str) and k in (Kind.ENUM, Kind.ENUM64):
            match = next((v.value for v in t.values if v.name == value), None)
            if match is None:
                raise ObjectError(f"{value!r} is not an enumerator of {t.name or 'the enum'}")
            value = match
        if not isinstance(value, int):
            raise ObjectError(f"expected an integer for {t.name or k.name}, got {type(value).__name__}")
        out[offset : offset + size] = (int(value) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        return
    if k == Kind.FLOAT:
        out[offset : offset + t.size] = struct.pack("<f" if t.size == 4 else "<d", float(value))
        return
    if k == Kind.ARRAY:
        esize = btf.sizeof(t.elem_type)
        if isinstance(value, str):
            raw = value.encode()[: t.nelems]
            out[offset : offset + len(raw)] = raw
            return
        if len(value) > t.nelems:
            raise ObjectError(f"{len(value)} elements do not fit in an array of {t.nelems}")
        for i, v in enumerate(value):
            _encode_into(btf, t.elem_type, v, out, offset + i * esize, depth + 1)
        return
    if k in (Kind.STRUCT, Kind.UNION):
        if not isinstance(value, dict):
            raise ObjectError(f"expected a dict for {_name(t.name, k)}")
        for m in t.members:
            if m.name not in value:
                continue
            if m.bitfield_size:
                size = btf.sizeof(m.type_id)
                base = offset + (m.bit_offset // 8 // size) * size
                shift = m.bit_offset - (base - offset) * 8
                word = int.from_bytes(out[base : base + size], "little")
                mask = ((1 << m.bitfield_size) - 1) << shift
                word = (word & ~mask) | ((int(value[m.name]) << shift) & mask)
                out[base : base + size] = word.to_bytes(size, "little")
            else:
                _encode_into(btf, m.type_id, value[m.name], out, offset + m.bit_offset // 8, depth + 1)
        return
    raise ObjectError(f"cannot encode a value of kind {k.name}")


def _name(name: str, kind: Kind) -> str:
    return f"{kind.name.lower()} {name}" if name else kind.name.lower()


def _typed_or_raw(btf: Btf | None, type_id: int, data: bytes) -> Any:
    if btf is not None and type_id:
        try:
            return decode_value(btf, type_id, data)
        except ObjectError:
            pass
    return [f"0x{b:02x}" for b in data]


def map_entry(btf: Btf | None, key_type_id: int, value_type_id: int, key: bytes,
              value: bytes | list[bytes]) -> dict[str, Any]:
    """One map entry shaped like `bpftool map dump -j`: typed values when BTF describes them, else hex bytes.

    A per-CPU value (a list of bytes, one per CPU) becomes "values": [{"cpu": N, "value": ...}].
    """
    out: dict[str, Any] = {"key": _typed_or_raw(btf, key_type_id, key)}
    if isinstance(value, list):
        out["values"] = [{"cpu": i, "value": _typed_or_raw(btf, value_type_id, v)} for i, v in enumerate(value)]
    else:
        out["value"] = _typed_or_raw(btf, value_type_id, value)
    return out
