"""`pybpf inspect FILE [--json]`: what an eBPF ELF object contains (programs, maps, global data, BTF, relocations)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybpf.cli._output import print_json
from pybpf.errors import BpfError
from pybpf.isa.instruction import slot_count
from pybpf.isa.opcodes import CALL, LDDW
from pybpf.object.spec import CollectionSpec

# The ELF/BTF layers are imported by the functions that use them: registering the verb stays cheap.
if TYPE_CHECKING:
    from pybpf.btf.btf import Btf
    from pybpf.object.elf import ElfFile

BTF_MAGIC_BYTES = b"\x9f\xeb"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("inspect", help="show the programs, maps, global data, BTF and relocations of an object")
    p.add_argument("file", help="an eBPF ELF object (.o), or a raw BTF file such as /sys/kernel/btf/vmlinux")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--btf", choices=("raw", "c", "header"),
                   help="also print every BTF type: bpftool's raw format, C definitions (functions and "
                        "variables included), or a compilable C header "
                        "(`pybpf inspect /sys/kernel/btf/vmlinux --btf header > vmlinux.h`)")
    p.set_defaults(func=run)


def _program(name: str, prog: Any) -> dict[str, Any]:
    calls = sum(1 for i in prog.instructions if i.opcode == CALL and i.src == 1)
    helpers = sorted({i.imm for i in prog.instructions if i.opcode == CALL and i.src == 0})
    try:
        from pybpf.helpers import helper_name
    except ImportError:  # the helper catalogue is optional here
        names = [str(h) for h in helpers]
    else:
        names = [helper_name(h) for h in helpers]
    return {
        "name": name,
        "section": prog.section,
        "type": prog.type.name.lower(),
        "attach_type": prog.attach_type.name.lower() if prog.attach_type is not None else None,
        "attach_to": prog.attach_to,
        "instructions": slot_count(prog.instructions),
        "sleepable": prog.sleepable,
        "subprogram_calls": calls,
        "helpers": helpers,
        "helper_names": names,
        "func_infos": len(prog.func_infos),
        "line_infos": len(prog.line_infos),
        "core_relocations": len(prog.core_relos),
        "extern_calls": [{"pc": pc, "name": n} for pc, n in prog.extern_calls],
        "map_references": [
            {"pc": r.pc, "map": r.map_name, "kind": r.kind, "offset": r.offset} for r in prog.map_references
        ],
    }


def _map(spec: Any) -> dict[str, Any]:
    out = {
        "name": spec.name,
        "type": spec.type.name.lower(),
        "key_size": spec.key_size,
        "value_size": spec.value_size,
        "max_entries": spec.max_entries,
        "flags": spec.flags,
        "pinning": spec.pinning,
        "section": spec.section,
    }
    if spec.map_extra:
        out["map_extra"] = spec.map_extra
    if spec.numa_node:
        out["numa_node"] = spec.numa_node
    if spec.inner_map is not None:
        out["inner_map"] = _map(spec.inner_map)
    if spec.initial_slots:
        out["initial_slots"] = {str(k): v for k, v in spec.initial_slots}
    return out


def _global_data(spec: CollectionSpec, name: str) -> dict[str, Any]:
    from pybpf.btf.types import Kind
    from pybpf.btf.values import decode_value

    m = spec.maps[name]
    value = m.contents[0][1] if m.contents else b""
    out: dict[str, Any] = {"name": name, "size": m.value_size, "read_only": m.frozen, "variables": []}
    btf = spec.btf
    if btf is not None and m.value_type_id:
        datasec = btf[m.value_type_id]
        for info in datasec.secinfos:
            var = btf[info.type_id]
            entry: dict[str, Any] = {"name": var.name, "offset": info.offset, "size": info.size}
            try:
                if var.kind == Kind.VAR and info.offset + info.size <= len(value):
                    entry["value"] = decode_value(btf, var.type_id, value[info.offset : info.offset + info.size])
            except BpfError:
                entry["value"] = value[info.offset : info.offset + info.size].hex()
            out["variables"].append(entry)
    elif name.startswith(".rodata.str"):
        out["strings"] = [x.decode("utf-8", "replace") for x in value.split(b"\0") if x]
    elif value:
        out["bytes"] = value[:64].hex()
    return out


def _relocations(elf: ElfFile) -> list[dict[str, Any]]:
    from pybpf.object.relocations import KNOWN_RELOCATION_TYPES

    out = []
    for rel, target in elf.relocation_sections():
        if not (target.is_exec or target.name == ".maps"):
            continue
        counts = Counter(KNOWN_RELOCATION_TYPES.get(r.type, str(r.type)) for r in elf.relocations(rel))
        symbols = Counter(r.symbol.name or elf.section(r.symbol.shndx).name for r in elf.relocations(rel)
                          if 0 < r.symbol.shndx < len(elf.sections) or r.symbol.name)
        out.append({"section": target.name, "count": sum(counts.values()), "types": dict(counts),
                    "symbols": dict(symbols)})
    return out


def inspect_object(path: str) -> dict[str, Any]:
    """Everything `pybpf inspect` reports, as JSON-able data."""
    from pybpf.object import load_bytes
    from pybpf.object.elf import ElfFile
    from pybpf.object.maps import is_data_section

    data = Path(path).read_bytes()
    spec = load_bytes(data, name=path)
    elf = ElfFile(data, path)
    data_names = {s.name for s in elf.sections if is_data_section(s) and s.size}
    data_names |= {n for n, m in spec.maps.items() if m.section == ".kconfig"}
    btf_summary: dict[str, Any] | None = None
    if spec.btf is not None:
        kinds = spec.btf.kind_counts()
        btf_summary = {"types": sum(kinds.values()), "kinds": dict(sorted(kinds.items())),
                       "func_infos": sum(len(p.func_infos) for p in spec.programs.values()),
                       "line_infos": sum(len(p.line_infos) for p in spec.programs.values()),
                       "core_relocations": sum(len(p.core_relos) for p in spec.programs.values())}
    return {
        "file": path,
        "license": spec.license,
        "programs": [_program(n, p) for n, p in spec.programs.items()],
        "maps": [_map(m) for n, m in spec.maps.items() if n not in data_names],
        "global_data": [_global_data(spec, n) for n in spec.maps if n in data_names],
        "btf": btf_summary,
        "relocations": _relocations(elf),
        "lddw_count": sum(1 for p in spec.programs.values() for i in p.instructions if i.opcode == LDDW),
    }


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header).rstrip()] + [fmt.format(*map(str, r)).rstrip() for r in rows]


def _text(info: dict[str, Any]) -> str:
    lines = [f"{info['file']}: license {info['license']!r}"]
    lines.append(f"\nPrograms ({len(info['programs'])}):")
    rows = [[p["name"], p["section"], p["type"], p["attach_type"] or "-", p["attach_to"] or "-",
             p["instructions"], len(p["map_references"]), p["subprogram_calls"]] for p in info["programs"]]
    lines += ["  " + r for r in _table(rows, ["NAME", "SECTION", "TYPE", "ATTACH", "TARGET", "INSNS", "MAPREFS", "CALLS"])]
    for p in info["programs"]:
        if p["helper_names"]:
            lines.append(f"  {p['name']} calls: {', '.join(p['helper_names'])}")
        if p["extern_calls"]:
            names = sorted({e["name"] for e in p["extern_calls"]})
            lines.append(f"  {p['name']} calls extern functions: {', '.join(names)}")
    lines.append(f"\nMaps ({len(info['maps'])}):")
    rows = [[m["name"], m["type"], m["key_size"], m["value_size"], m["max_entries"], hex(m["flags"]),
             m["section"], m.get("inner_map", {}).get("type", "-")] for m in info["maps"]]
    lines += ["  " + r for r in _table(rows, ["NAME", "TYPE", "KEY", "VALUE", "MAX", "FLAGS", "SECTION", "INNER"])]
    lines.append(f"\nGlobal data ({len(info['global_data'])}):")
    for g in info["global_data"]:
        lines.append(f"  {g['name']} ({g['size']} bytes{', read-only' if g['read_only'] else ''})")
        for v in g["variables"]:
            val = f" = {json.dumps(v['value'])}" if "value" in v else ""
            lines.append(f"    +{v['offset']:<5} {v['name']} ({v['size']} bytes){val}")
        for text in g.get("strings", []):
            lines.append(f"    {json.dumps(text)}")
        if "bytes" in g:
            lines.append(f"    {g['bytes']}")
    if info["btf"] is None:
        lines.append("\nBTF: none")
    else:
        b = info["btf"]
        kinds = ", ".join(f"{k} {n}" for k, n in b["kinds"].items())
        lines.append(f"\nBTF: {b['types']} types ({kinds}); {b['func_infos']} func infos, "
                     f"{b['line_infos']} line infos, {b['core_relocations']} CO-RE relocations")
    lines.append("\nRelocations:")
    for r in info["relocations"]:
        types = ", ".join(f"{k} {n}" for k, n in r["types"].items())
        syms = ", ".join(sorted(r["symbols"]))
        lines.append(f"  {r['section']}: {r['count']} ({types}) -> {syms}")
    return "\n".join(lines)


def _load_btf(path: str) -> Btf | None:
    from pybpf.btf.btf import Btf
    from pybpf.object import load_bytes

    data = Path(path).read_bytes()
    if data[:2] == BTF_MAGIC_BYTES:
        return Btf.parse(data, name=path)
    return load_bytes(data, name=path).btf


def _btf_dump(path: str, fmt: str) -> str:
    from pybpf.btf.cheader import c_header
    from pybpf.btf.printer import definition, dump_raw
    from pybpf.btf.types import Kind

    btf = _load_btf(path)
    if btf is None:
        return "(no BTF)"
    if fmt == "raw":
        return dump_raw(btf)
    if fmt == "header":
        return c_header(btf)
    out = []
    for t in btf:
        if (t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64) and t.name) or t.kind in (
                Kind.TYPEDEF, Kind.FUNC, Kind.VAR, Kind.DATASEC):
            out.append(definition(btf, t.id))
    return "\n\n".join(out)


def _btf_file_report(path: str) -> dict[str, Any]:
    from pybpf.btf.btf import Btf

    btf = Btf.parse(Path(path).read_bytes(), name=path)
    kinds = btf.kind_counts()
    return {"file": path, "btf": {"types": sum(kinds.values()), "kinds": dict(sorted(kinds.items()))}}


def run(args: argparse.Namespace) -> int:
    with open(args.file, "rb") as f:
        raw_btf = f.read(2) == BTF_MAGIC_BYTES
    if raw_btf:  # a raw BTF file such as /sys/kernel/btf/vmlinux
        info = _btf_file_report(args.file)
        if args.btf and not args.json:
            print(_btf_dump(args.file, args.btf), end="" if args.btf == "header" else "\n")
            return 0
        if args.btf:
            info["btf_dump"] = _btf_dump(args.file, args.btf).splitlines()
        if args.json:
            print_json(info)
        else:
            b = info["btf"]
            print(f"{args.file}: BTF, {b['types']} types (" + ", ".join(f"{k} {n}" for k, n in b["kinds"].items()) + ")")
        return 0
    info = inspect_object(args.file)
    if args.json:
        if args.btf:
            info["btf_dump"] = _btf_dump(args.file, args.btf).splitlines()
        print_json(info)
        return 0
    print(_text(info))
    if args.btf:
        print("\nBTF types:")
        print(_btf_dump(args.file, args.btf))
    return 0
