"""`pybpf map list|show|dump|lookup|update|delete|pin ID|PIN`: kernel maps and their contents, bpftool-style."""

from __future__ import annotations

import argparse
from typing import Any

from pybpf.cli import _map_edit
from pybpf.cli._kernel import permission_denied
from pybpf.cli._output import is_terminal, print_json, print_table
from pybpf.errors import BpfError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("map", help="list kernel eBPF maps, dump and change their contents")
    sub = p.add_subparsers(dest="map_cmd", metavar="CMD")
    lst = sub.add_parser("list", help="every map in the kernel")
    lst.add_argument("--json", action="store_true")
    for name, text in (("show", "one map's attributes"), ("dump", "one map's entries")):
        q = sub.add_parser(name, help=text)
        q.add_argument("map", help="map id, or a path pinned on bpffs")
        q.add_argument("--json", action="store_true")
    _map_edit.register(sub)
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


def dump(m: Any, i: Any) -> dict[str, Any]:
    """A kernel map as {"name", "type", "entries"} (or "error"), decoded through its BTF."""
    from pybpf.btf.entries import map_dump

    result = map_dump(m, map_btf(i))
    if result is None:
        raise BpfError(f"map {i.id} ({i.type_name}) cannot be dumped: it is an event channel")
    return result


def run(args: argparse.Namespace) -> int:
    denied = permission_denied("map")
    if denied is not None:
        return denied
    from pybpf.kernel import info

    if args.map_cmd in (None, "list"):
        items = info.list_maps()
        if args.json:
            print_json([_as_dict(i) for i in items])
        elif is_terminal():
            print_table(["ID", "TYPE", "NAME", "KEY", "VALUE", "MAX", "FLAGS", "BTF"], [
                [i.id, i.type_name, i.name or "-", f"{i.key_size}B", f"{i.value_size}B", i.max_entries,
                 f"{i.flags:#x}", i.btf_id or "-"] for i in items])
        else:
            for i in items:
                print(_line(i))
        return 0
    m, i = open_map(args.map)
    with m:
        if args.map_cmd in ("lookup", "update", "delete", "pin"):
            return _map_edit.run(args, m, i, map_btf(i))
        if args.map_cmd == "show":
            if args.json:
                print_json(_as_dict(i))
            else:
                print(_line(i))
            return 0
        result = dump(m, i)
        if "error" in result:
            raise BpfError(f"map {i.id} ({i.type_name}) cannot be read: {result['error']}")
        entries = result["entries"]
        if args.json:
            print_json(entries)
            return 0
        from pybpf.btf.entries import entry_line

        for e in entries:
            print(entry_line(e))
        print(f"Found {len(entries)} element{'s' if len(entries) != 1 else ''}")
    return 0
