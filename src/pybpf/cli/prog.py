"""`pybpf prog list|show ID [--json]`: programs loaded in the kernel, bpftool-style."""

from __future__ import annotations

import argparse
import time
from typing import Any

from pybpf.cli._kernel import permission_denied
from pybpf.cli._output import is_terminal, print_json, print_table


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("prog", help="list the eBPF programs loaded in the kernel")
    sub = p.add_subparsers(dest="prog_cmd", metavar="CMD")
    lst = sub.add_parser("list", help="every program in the kernel")
    lst.add_argument("--json", action="store_true", help="one JSON array")
    show = sub.add_parser("show", help="one program by id")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    dump = sub.add_parser("dump", help="the instructions the kernel runs (after its rewrites), disassembled")
    dump.add_argument("id", type=int)
    dump.add_argument("--syntax", choices=("llvm", "ubpf"), default="llvm")
    dump.add_argument("--linum", action="store_true", help="file:line:column after each source line")
    dump.add_argument("--json", action="store_true",
                      help="a list of {pc, text[, function, src, file, line, column]} objects")
    p.set_defaults(func=run, json=False)


def _as_dict(i: Any) -> dict[str, Any]:
    """bpftool's fields; loaded_at is wall-clock seconds since the epoch, as bpftool -j gives it."""
    return {"id": i.id, "type": i.type_name, "name": i.name, "tag": i.tag, "gpl_compatible": i.gpl_compatible,
            "loaded_at": int(_boot_time() + i.load_time / 1e9), "uid": i.created_by_uid, "bytes_xlated": i.xlated_prog_len,
            "bytes_jited": i.jited_prog_len, "map_ids": list(i.map_ids), "btf_id": i.btf_id,
            "verified_insns": i.verified_insns, "run_cnt": i.run_cnt, "run_time_ns": i.run_time_ns}


def _boot_time() -> float:
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def _loaded(i: Any) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(_boot_time() + i.load_time / 1e9))


def _line(i: Any) -> str:
    loaded = _loaded(i)
    text = f"{i.id}: {i.type_name}  name {i.name or '-'}  tag {i.tag}" + ("  gpl" if i.gpl_compatible else "")
    text += f"\n\tloaded_at {loaded}  uid {i.created_by_uid}"
    text += f"\n\txlated {i.xlated_prog_len}B  jited {i.jited_prog_len}B"
    if i.map_ids:
        text += f"  map_ids {','.join(map(str, i.map_ids))}"
    if i.btf_id:
        text += f"\n\tbtf_id {i.btf_id}"
    return text


def run(args: argparse.Namespace) -> int:
    denied = permission_denied("prog")
    if denied is not None:
        return denied
    from pybpf.kernel import info

    if args.prog_cmd == "dump":
        return _dump(args)
    if args.prog_cmd == "show":
        with info.fd_by_id("prog", args.id) as fd:
            items = [info.prog_info(fd.fd)]
    elif args.prog_cmd in (None, "list"):
        items = info.list_progs()
    else:
        return 2
    if args.json:
        out = [_as_dict(i) for i in items]
        print_json(out[0] if args.prog_cmd == "show" else out)
    elif args.prog_cmd != "show" and is_terminal():
        print_table(["ID", "TYPE", "NAME", "TAG", "LOADED", "XLATED", "JITED", "MAPS"], [
            [i.id, i.type_name, i.name or "-", i.tag, _loaded(i), i.xlated_prog_len, i.jited_prog_len,
             ",".join(map(str, i.map_ids)) or "-"] for i in items])
    else:
        for i in items:
            print(_line(i))
    return 0


def _dump(args: argparse.Namespace) -> int:
    """The translated instructions, helper calls named, each function and source line above its code."""
    from pybpf.isa import format_instruction
    from pybpf.isa.instruction import decode, iter_slots
    from pybpf.kernel import info
    from pybpf.kernel.xlated import helper_call_names, source_info

    with info.fd_by_id("prog", args.id) as fd:
        code = info.prog_xlated(fd.fd)
        lines, funcs = source_info(fd.fd)
    insns = decode(code)
    names = helper_call_names(insns)
    by_pc = {li.insn_off: li for li in lines}
    rows = []
    for pc, insn in iter_slots(insns):
        row: dict[str, Any] = {"pc": pc, "text": format_instruction(insn, pc, args.syntax, names)}
        if pc in funcs:
            row["function"] = funcs[pc]
        li = by_pc.get(pc)
        if li is not None:
            row.update(src=li.source, file=li.file, line=li.line, column=li.column)
        rows.append(row)
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        if "function" in row:
            print(f"{row['function']}:")
        if "src" in row:
            where = f" [{row['file']}:{row['line']}:{row['column']}]" if args.linum else ""
            print(f"; {row['src']}{where}")
        print(f"{row['pc']:5d}: {row['text']}")
    return 0
