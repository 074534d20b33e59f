"""Map entries and ring-buffer events decoded through BTF, in bpftool's one JSON schema.

Every verb that shows map contents (`run`, `attach`, `map dump`) shapes an entry the same way
`bpftool map dump -j` does: the raw `key` and `value` as lists of "0x.." byte strings (per-CPU
maps: `values` = [{"cpu": N, "value": [...]}]) plus, when BTF describes the map, a `formatted`
object with the decoded key and value (structs as dicts, char arrays as strings). Entries are
sorted by their decoded key, so a `{tgid, nr}` key sorts by tgid, then nr.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pybpf.btf.btf import Btf
from pybpf.btf.types import INT_CHAR, Kind
from pybpf.btf.values import decode_value
from pybpf.errors import ObjectError

Value = bytes | list[bytes]


def hex_bytes(data: bytes) -> list[str]:
    """bpftool's JSON bytes: ["0x01", "0x00", ...]."""
    return [f"0x{b:02x}" for b in data]


def typed(btf: Btf | None, type_id: int, data: bytes) -> Any:
    """`data` decoded by BTF type `type_id`, or None when there is no usable type."""
    if btf is None or not type_id:
        return None
    try:
        return decode_value(btf, type_id, data)
    except (ObjectError, KeyError, IndexError):
        return None


def entry(btf: Btf | None, key_type_id: int, value_type_id: int, key: bytes, value: Value) -> dict[str, Any]:
    """One entry in bpftool's JSON schema (with `formatted` when BTF decodes key and value)."""
    out: dict[str, Any] = {"key": hex_bytes(key)}
    if isinstance(value, list):
        out["values"] = [{"cpu": cpu, "value": hex_bytes(v)} for cpu, v in enumerate(value)]
    else:
        out["value"] = hex_bytes(value)
    fkey = typed(btf, key_type_id, key) if key else None
    if isinstance(value, list):
        fvalues = [typed(btf, value_type_id, v) for v in value]
        if fvalues and all(v is not None for v in fvalues):
            out["formatted"] = {"key": fkey if fkey is not None else _number(key),
                                "values": [{"cpu": c, "value": v} for c, v in enumerate(fvalues)]}
    else:
        fvalue = typed(btf, value_type_id, value)
        if fvalue is not None:
            out["formatted"] = {"key": fkey if fkey is not None else _number(key), "value": fvalue}
    return out


def _number(data: bytes) -> Any:
    """A key without a BTF type: an int when it is 1, 2, 4 or 8 bytes, else its hex bytes."""
    if len(data) in (1, 2, 4, 8):
        return int.from_bytes(data, "little")
    return hex_bytes(data)


def sort_key(value: Any) -> tuple[Any, ...]:
    """An order for decoded values: numbers by value, structs member by member, text as text."""
    if isinstance(value, bool | int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, dict):
        return (2, tuple(sort_key(v) for v in value.values()))
    if isinstance(value, list | tuple):
        return (3, tuple(sort_key(v) for v in value))
    return (4, repr(value))


def entries(btf: Btf | None, key_type_id: int, value_type_id: int,
            items: Iterable[tuple[bytes, Value]]) -> list[dict[str, Any]]:
    """Every (key, value) as an entry, sorted by decoded key (raw little-endian number without BTF)."""
    return _sorted([entry(btf, key_type_id, value_type_id, bytes(k), v) for k, v in items])


def _sorted(out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries sorted by decoded key (raw little-endian number without BTF)."""

    def order(e: dict[str, Any]) -> tuple[Any, ...]:
        if "formatted" in e:
            return sort_key(e["formatted"]["key"])
        raw = bytes(int(b, 16) for b in e["key"])
        return (0, int.from_bytes(raw, "little"))

    try:
        out.sort(key=order)
    except TypeError:  # keys of different shapes: raw byte order
        out.sort(key=lambda e: e["key"])
    return out


def _plain(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(b, str) and b.startswith("0x") for b in value):
        return " ".join(b[2:] for b in value)
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, separators=(", ", ": "))


def entry_line(e: dict[str, Any]) -> str:
    """One entry as one line, bpftool's plain words: `key: 00 00 00 00  value: 07 00 ...`, or
    decoded when BTF describes the map: `key: {"tgid": 1, "nr": 2}  value: 7`."""
    shown = e.get("formatted", e)
    key = _plain(shown["key"])
    if "values" in shown:
        per_cpu = "  ".join(f"value (CPU {v['cpu']:02d}): {_plain(v['value'])}" for v in shown["values"])
        return f"key: {key}  {per_cpu}"
    return f"key: {key}  value: {_plain(shown['value'])}"


def is_zero(e: dict[str, Any]) -> bool:
    """Whether an entry's value bytes are all zero (arrays: slots never written)."""
    values = [v["value"] for v in e["values"]] if "values" in e else [e["value"]]
    return all(b == "0x00" for v in values for b in v)


# ---- events ------------------------------------------------------------------------------------


def find_type(btf: Btf, name: str) -> int | None:
    """The id of the type named `name` (a struct first, then a union, a typedef, anything)."""
    bare = name.removeprefix("struct ").removeprefix("union ").strip()
    for kind in (Kind.STRUCT, Kind.UNION, Kind.TYPEDEF, None):
        t = btf.find(bare, kind)
        if t is not None:
            return t.id
    return None


def decode_event(btf: Btf, type_id: int, record: bytes) -> Any:
    """A ring/perf buffer record decoded by `type_id`, tolerant of variable-length records.

    A record shorter than the type is decoded as if zero-filled (a char array cut short ends
    where the record ends); bytes past the type fill a trailing flexible array member
    (`char data[]`) or are kept as `__tail` hex.
    """
    size = btf.sizeof(type_id)
    padded = record.ljust(size, b"\0")
    value = decode_value(btf, type_id, padded[:size])
    tail = record[size:]
    if not tail or not isinstance(value, dict):
        return value
    flex = _flexible_member(btf, type_id)
    if flex is None:
        value["__tail"] = tail.hex()
        return value
    name, elem_id = flex
    elem = btf.skip_modifiers(elem_id)
    esize = btf.sizeof(elem_id)
    if esize == 1 and elem.kind == Kind.INT and (elem.encoding & INT_CHAR or elem.name in ("char", "signed char")):
        text = tail.split(b"\0", 1)[0]
        try:
            value[name] = text.decode("utf-8")
        except UnicodeDecodeError:
            value[name] = list(tail)
    elif esize:
        value[name] = [decode_value(btf, elem_id, tail, i * esize) for i in range(len(tail) // esize)]
    return value


def _flexible_member(btf: Btf, type_id: int) -> tuple[str, int] | None:
    t = btf.skip_modifiers(type_id)
    if t.kind != Kind.STRUCT or not t.members:
        return None
    last = t.members[-1]
    arr = btf.skip_modifiers(last.type_id)
    if arr.kind == Kind.ARRAY and arr.nelems == 0:
        return last.name, arr.elem_type
    return None


# ---- whole maps --------------------------------------------------------------------------------

# Maps whose contents are events, not state: never dumped.
EVENT_CHANNELS = ("RINGBUF", "PERF_EVENT_ARRAY", "USER_RINGBUF")


def map_dump(m: Any, btf: Btf | None, *, skip_zero: bool = False, limit: int = 0) -> dict[str, Any] | None:
    """A live map (any engine) as {"name", "type", "entries"}, entries decoded through `btf`.

    None for event channels (ring and perf buffers). A map the engine cannot read (a prog or
    cgroup array in the kernel: errno 524) gives {"name", "type", "error"} instead of raising,
    so one unreadable map never costs the others. `skip_zero` leaves out all-zero values (array
    slots nobody wrote). With `limit` > 0 at most that many entries are read and decoded (in the
    map's order, then sorted), and "truncated": true says there were more: a 4M-entry array is
    not read whole to print it."""
    from pybpf.errors import BpfError

    type_name = getattr(m.type, "name", str(m.type))
    if type_name in EVENT_CHANNELS:
        return None
    head = {"name": m.name, "type": type_name.lower()}
    spec = getattr(m, "spec", None)
    key_id = getattr(spec, "key_type_id", 0)
    value_id = getattr(spec, "value_type_id", 0)
    rows: list[dict[str, Any]] = []
    truncated = False
    try:
        for key, value in m.items():
            if limit and len(rows) >= limit:
                truncated = True
                break
            row = entry(btf, key_id, value_id, bytes(key), value)
            if not (skip_zero and is_zero(row)):
                rows.append(row)
    except (BpfError, OSError) as exc:
        return {**head, "error": str(exc)}
    rows = _sorted(rows)
    return {**head, "entries": rows, "truncated": True} if truncated else {**head, "entries": rows}


# ---- input: keys and values typed on the command line ------------------------------------------


def parse_bytes(tokens: list[str], size: int, what: str) -> bytes:
    """bpftool's byte form: `0x01 0x00 2 3` (each token one byte, C number syntax) or
    `hex 01 00 02 03` / `hex 01000203` (hex digits); exactly `size` bytes."""
    if not tokens:
        raise ObjectError(f"{what}: no bytes given")
    if tokens[0] == "hex":
        try:
            data = bytes.fromhex("".join(tokens[1:]))
        except ValueError:
            raise ObjectError(f"{what}: {' '.join(tokens[1:])!r} is not hex bytes") from None
    else:
        out = bytearray()
        for tok in tokens:
            try:
                byte = int(tok, 0) if not (tok.startswith("0") and tok.isdigit() and len(tok) > 1) else int(tok, 8)
            except ValueError:
                raise ObjectError(f"{what}: {tok!r} is not a byte (0x2a, 42 or 052)") from None
            if not 0 <= byte <= 0xFF:
                raise ObjectError(f"{what}: {tok!r} does not fit in a byte")
            out.append(byte)
        data = bytes(out)
    if len(data) != size:
        raise ObjectError(f"{what}: {len(data)} bytes given, the map's {what} has {size}")
    return data


def parse_typed(text: str, size: int, btf: Btf | None, type_id: int, what: str) -> bytes:
    """A key or value from text: JSON (`22`, `{"tgid": 1, "nr": 2}`, `"eth0"`) encoded through
    the map's BTF type, or, without BTF, an integer stored little-endian in `size` bytes;
    `hex:0100` gives the raw bytes."""
    if text.startswith("hex:"):
        return parse_bytes(["hex", text[4:]], size, what)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text  # a bare word: a string (char arrays, enumerators)
    if btf is not None and type_id:
        from pybpf.btf.values import encode_value

        try:
            data = encode_value(btf, type_id, value)
        except ObjectError as exc:
            raise ObjectError(f"{what}: {exc}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            data = (value & ((1 << (8 * size)) - 1) if value < 0 else value).to_bytes(size, "little")
        except OverflowError:
            raise ObjectError(f"{what}: {value} does not fit in {size} bytes") from None
    else:
        raise ObjectError(f"{what}: {text!r} needs the map's BTF type to be encoded"
                          " (give an integer, or bytes as hex:0102...)")
    if len(data) != size:
        raise ObjectError(f"{what}: encodes to {len(data)} bytes, the map's {what} has {size}")
    return data
