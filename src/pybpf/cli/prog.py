"""`pybpf prog list|show ID [--json]`: programs loaded in the kernel, bpftool-style."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from pybpf.cli._kernel import permission_denied


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
    dump.add_argument("--json", action="store_true", help="a list of {pc, text} objects")
    p.set_defaults(func=run, json=False)


def _as_dict(i: Any) -> dict[str, Any]:
    return {"id": i.id, "type": i.type_name, "name": i.name, "tag": i.tag, "gpl_compatible": i.gpl_compatible,
            "loaded_at": i.load_time, "uid": i.created_by_uid, "bytes_xlated": i.xlated_prog_len,
            "bytes_jited": i.jited_prog_len, "map_ids": list(i.map_ids), "btf_id": i.btf_id,
            "verified_insns": i.verified_insns, "run_cnt": i.run_cnt, "run_time_ns": i.run_time_ns}


def _boot_time() -> float:
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def _line(i: Any) -> str:
    loaded = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(_boot_time() + i.load_time / 1e9))
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
        print(json.dumps(out[0] if args.prog_cmd == "show" else out))
    else:
        for i in items:
            print(_line(i))
    return 0


def _dump(args: argparse.Namespace) -> int:
    from pybpf.isa import disassemble
    from pybpf.isa.instruction import decode, iter_slots
    from pybpf.kernel import info

    with info.fd_by_id("prog", args.id) as fd:
        code = info.prog_xlated(fd.fd)
    insns = decode(code)
    text = disassemble(insns, syntax=args.syntax).splitlines()
    if args.json:
        pcs = [pc for pc, _ in iter_slots(insns)]
        print(json.dumps([{"pc": pc, "text": t} for pc, t in zip(pcs, text, strict=False)]))
    else:
        pcs = [pc for pc, _ in iter_slots(insns)]
        for pc, line in zip(pcs, text, strict=False):
            print(f"{pc:5d}: {line}")
    return 0
