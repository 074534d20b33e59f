"""`pybpf map list|show|dump ID|PIN [--json]`: maps in the kernel and their contents, bpftool-style."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pybpf.cli._kernel import hex_bytes, json_bytes, permission_denied


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("map", help="list kernel eBPF maps and dump their contents")
    sub = p.add_subparsers(dest="map_cmd", metavar="CMD")
    lst = sub.add_parser("list", help="every map in the kernel")
    lst.add_argument("--json", action="store_true")
    for name, text in (("show", "one map's attributes"), ("dump", "one map's entries")):
        q = sub.add_parser(name, help=text)
        q.add_argument("map", help="map id, or a path pinned on bpffs")
        q.add_argument("--json", action="store_true")
    p.set_defaults(func=run, json=False)


def _as_dict(i: Any) -> dict[str, Any]:
    return {"id": i.id, "type": i.type_name, "name": i.name, "flags": i.flags, "bytes_key": i.key_size,
            "bytes_value": i.value_size, "max_entries": i.max_entries, "btf_id": i.btf_id}


def _line(i: Any) -> str:
    text = f"{i.id}: {i.type_name}  name {i.name or '-'}  flags {i.flags:#x}"
    text += f"\n\tkey {i.key_size}B  value {i.value_size}B  max_entries {i.max_entries}"
    if i.btf_id:
        text += f"  btf_id {i.btf_id}"
    return text


def open_map(ref: str) -> Any:
    """A KernelMap for a map id or a bpffs pin path, and its info."""
    from pybpf.kernel import info
    from pybpf.kernel.maps import KernelMap

    m = KernelMap.open(ref)
    return m, info.map_info(m.fd)


def map_btf(i: Any) -> Any:
    """The BTF the map was created with (parsed), or None."""
    if not i.btf_id or not (i.btf_key_type_id or i.btf_value_type_id):
        return None
    from pybpf.btf.btf import Btf
    from pybpf.errors import BpfError
    from pybpf.kernel import info

    try:
        with info.fd_by_id("btf", i.btf_id) as fd:
            return Btf.parse(info.btf_data(fd.fd))
    except (BpfError, ValueError):
        return None


def dump(m: Any, as_json: bool, i: Any = None) -> list[Any] | list[str]:
    """Entries of a map as bpftool prints them (plain lines or JSON objects, typed through BTF when known)."""
    out: list[Any] = []
    btf = map_btf(i) if i is not None else None
    if btf is not None:
        from pybpf.btf.values import map_entry

        for key, value in m.items():
            typed = map_entry(btf, i.btf_key_type_id, i.btf_value_type_id, key, value)
            if as_json:
                raw: dict[str, Any] = {"key": json_bytes(key)}
                if isinstance(value, list):
                    raw["values"] = [{"cpu": c, "value": json_bytes(v)} for c, v in enumerate(value)]
                else:
                    raw["value"] = json_bytes(value)
                out.append({**raw, "formatted": typed})
            else:
                out.append(typed)
        return out
    for key, value in m.items():
        if as_json:
            if isinstance(value, list):
                out.append({"key": json_bytes(key),
                            "values": [{"cpu": c, "value": json_bytes(v)} for c, v in enumerate(value)]})
            else:
                out.append({"key": json_bytes(key), "value": json_bytes(value)})
        elif isinstance(value, list):
            out.append(f"key:\n{hex_bytes(key)}")
            out.extend(f"value (CPU {c:02d}): {hex_bytes(v)}" for c, v in enumerate(value))
        else:
            out.append(f"key: {hex_bytes(key)}  value: {hex_bytes(value)}")
    return out


def run(args: argparse.Namespace) -> int:
    denied = permission_denied("map")
    if denied is not None:
        return denied
    from pybpf.kernel import info

    if args.map_cmd in (None, "list"):
        items = info.list_maps()
        if args.json:
            print(json.dumps([_as_dict(i) for i in items]))
        else:
            for i in items:
                print(_line(i))
        return 0
    m, i = open_map(args.map)
    with m:
        if args.map_cmd == "show":
            print(json.dumps(_as_dict(i)) if args.json else _line(i))
            return 0
        from pybpf.abi import MapType

        if m.type in (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY, MapType.USER_RINGBUF):
            import sys

            print(f"pybpf map: map {i.id} ({i.type_name}) cannot be dumped: it is an event channel", file=sys.stderr)
            return 2
        entries = dump(m, args.json, i)
        if args.json:
            print(json.dumps(entries, default=str))
        elif entries and isinstance(entries[0], dict):  # typed through BTF: bpftool's formatted layout
            print(json.dumps(entries, indent=4, default=str))
            print(f"Found {len(entries)} element{'s' if len(entries) != 1 else ''}")
        else:
            for line in entries:
                print(line)
            n = sum(1 for e in entries if isinstance(e, str) and e.startswith("key"))
            print(f"Found {n} element{'s' if n != 1 else ''}")
    return 0
