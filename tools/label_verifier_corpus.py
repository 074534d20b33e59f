"""Label the verifier corpus with the running kernel's verdicts (tests/data/verifier/labels_*.json).

    .venv/bin/python tools/label_verifier_corpus.py [--asm] [--c] [--random N] [--samples]

Each case stores the bytecode, the maps and map references, and the kernel's verdict: accepted, the
rejecting instruction and the error lines of its log. Tests compare pybpf.verifier with these labels,
so they run without a kernel. Needs root (bpf() with CAP_BPF/CAP_PERFMON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from verifier_agreement import with_static_funcs  # noqa: E402

from pybpf.abi import AttachType, MapFlags, MapType, ProgramType  # noqa: E402
from pybpf.isa import assemble, encode  # noqa: E402
from pybpf.isa.instruction import Instruction  # noqa: E402
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec  # noqa: E402

DATA = ROOT / "tests" / "data" / "verifier"
FD_BASE, VALUE_BASE, FUNC_BASE = 0xFEED0000, 0xFEEE0000, 0xFEEF0000
# `; map: NAME TYPE KEY_SIZE VALUE_SIZE MAX_ENTRIES [frozen] [rdonly_prog] [wronly_prog]` in asm cases;
# `; btf: funcs` gives the sub-programs static BTF FUNCs (func_info), as the kernel engine does
MAP_FLAG_WORDS = {"rdonly_prog": int(MapFlags.RDONLY_PROG), "wronly_prog": int(MapFlags.WRONLY_PROG)}
_INSN_LINE = re.compile(r"^\d+: \(")
_NOISE = ("processed ", "verification time", "stack depth", "mark_precise", "cur state:", "old state:",
          "func#", "Live regs", "      ", "last_idx", "regs=", "parent ", "from ", "(0) ")


def kernel_messages(log: str) -> list[str]:
    """The kernel's error lines: what follows the last logged instruction, minus statistics."""
    log = re.sub(r"(\S) (infinite loop detected at insn \d+)", r"\1\n\2", log)  # printed after a branch
    log = re.sub(r"(\S)(verification time \d+ usec)", r"\1\n\2", log)  # after a message without newline
    lines = [ln for ln in log.splitlines() if ln.strip()]
    last = max((i for i, ln in enumerate(lines) if _INSN_LINE.match(ln)), default=-1)
    out = [ln.strip() for ln in lines[last + 1:] if not ln.startswith(_NOISE) and not re.match(r"^\d+: R", ln)]
    return out[-4:]


def map_json(spec: MapSpec) -> dict[str, Any]:
    return {"name": spec.name, "type": int(spec.type), "key_size": spec.key_size, "value_size": spec.value_size,
            "max_entries": spec.max_entries, "flags": spec.flags, "frozen": spec.frozen,
            "contents": [[k.hex(), v.hex()] for k, v in spec.contents],
            "inner": map_json(spec.inner_map) if spec.inner_map is not None else None}


def judge(prog: ProgramSpec, maps: dict[str, MapSpec], btf: Any = None) -> dict[str, Any]:
    """The kernel's verdict on one program (pybpf.kernel); with the object's BTF when it has func_info."""
    from pybpf.errors import BpfError, VerifierError
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.kernel.verdict import kernel_verdicts

    if btf is not None and prog.func_infos:
        try:
            coll = load_collection(CollectionSpec(programs={prog.name: prog}, maps=maps, btf=btf), log_level=5)
            log = coll.programs[prog.name].verifier_log  # type: ignore[attr-defined]
            coll.close()
            return {"accepted": True, "errno": 0, "log": log, "insn": None}
        except VerifierError as exc:
            return {"accepted": False, "errno": getattr(exc, "errno", 13), "log": exc.log or exc.reason,
                    "insn": exc.insn}
        except BpfError as exc:
            return {"accepted": False, "errno": getattr(exc, "errno", 0), "log": f"errno: {exc}", "insn": None}
    v = kernel_verdicts(CollectionSpec(programs={prog.name: prog}, maps=maps))[prog.name]
    log = v.log or (f"errno {v.errno}: {v.message}" if not v.accepted else "")
    return {"accepted": v.accepted, "errno": v.errno, "log": log, "insn": v.insn}


_STATS = re.compile(r"processed (\d+) insns")
_USEC = re.compile(r"verification time (\d+) usec")


def label(name: str, source: str, ptype: int, insns: list[Instruction], maps: dict[str, MapSpec],
          refs: list[MapReference], license: str = "GPL", extra: dict[str, Any] | None = None,
          prog: ProgramSpec | None = None, btf: Any = None) -> dict[str, Any]:
    if prog is None:
        prog = ProgramSpec(name.replace("/", "_")[-15:], tuple(insns), type=ptype, map_references=tuple(refs),
                           license=license)
    v = judge(prog, maps, btf)
    log = v["log"]
    msgs = kernel_messages(log) if not v["accepted"] else []
    if not v["accepted"] and not msgs:
        msgs = [log.strip().splitlines()[-1] if log.strip() else f"errno {v['errno']}"]
    insns_logged = [int(m.group(1)) for m in re.finditer(r"^(\d+): \(", log, re.M)]
    insn = insns_logged[-1] if insns_logged and not v["accepted"] else v["insn"]
    for m in msgs:  # CFG and loop errors name their instruction in the message
        found = re.search(r"(?:at insn|from insn|unreachable insn|ldimm64 insn) (\d+)", m)
        if found:
            insn = int(found.group(1))
    p, t = _STATS.search(log), _USEC.search(log)
    case = {
        "name": name, "source": source, "type": int(ptype), "license": license,
        "insns": encode(insns).hex(), "maps": [map_json(m) for m in maps.values()],
        "refs": [[r.pc, r.map_name, r.kind, r.offset] for r in refs],
        "kernel": {"accepted": v["accepted"], "errno": v["errno"], "insn": insn, "messages": msgs,
                   "processed": int(p.group(1)) if p else None, "usec": int(t.group(1)) if t else None},
    }
    if extra:
        case.update(extra)
    return case


def parse_asm(text: str) -> tuple[int, dict[str, MapSpec], str]:
    ptype, maps, license = int(ProgramType.SOCKET_FILTER), {}, "GPL"
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(";"):
            continue
        key, _, val = line[1:].partition(":")
        key, val = key.strip(), val.strip()
        if key == "type":
            ptype = int(ProgramType[val.upper()])
        elif key == "license":
            license = val
        elif key == "map":
            parts = val.split()
            name, mtype, ks, vs, entries = parts[0], parts[1], *map(int, parts[2:5])
            frozen = "frozen" in parts[5:]
            flags = sum(flag for word, flag in MAP_FLAG_WORDS.items() if word in parts[5:])
            contents = ((b"\0" * ks, bytes(range(vs))),) if frozen or name.startswith(".") else ()
            maps[name] = MapSpec(name, MapType[mtype.upper()], ks, vs, entries, flags, contents=contents,
                                 frozen=frozen)
    return ptype, maps, license


def attach_of(text: str) -> int | None:
    """`; attach: cgroup_inet4_connect`: the expected attach type of an asm case."""
    found = re.search(r"^;\s*attach:\s*(\w+)", text, re.M)
    return int(AttachType[found.group(1).upper()]) if found else None


def asm_case(path: Path) -> dict[str, Any]:
    text = path.read_text()
    ptype, maps, license = parse_asm(text)
    body = "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith(";"))
    insns = func_placeholders(assemble(body))
    refs = placeholder_refs(insns, list(maps))
    attach = attach_of(text)
    funcs = re.search(r"^;\s*btf:\s*funcs\s*$", text, re.M) is not None
    if attach is None and not funcs:
        return label(f"asm/{path.stem}", "asm", ptype, insns, maps, refs, license, {"text": text})
    prog = ProgramSpec(path.stem[-15:], tuple(insns), type=ptype, map_references=tuple(refs), license=license,
                       attach_type=AttachType(attach) if attach is not None else None)
    extra: dict[str, Any] = {"text": text}
    if attach is not None:
        extra["attach_type"] = attach
    if funcs:  # `; btf: funcs`: loaded with one static BTF FUNC per sub-program, as the kernel engine does
        prog = with_static_funcs(prog)
        extra["btf"] = "funcs"
    return label(f"asm/{path.stem}", "asm", ptype, insns, maps, refs, license, extra, prog=prog, btf=prog.btf)


def func_placeholders(insns: list[Instruction]) -> list[Instruction]:
    """lddw of 0xfeef0000+T becomes a BPF_PSEUDO_FUNC load of the function at slot pc T (callbacks)."""
    out, pc = [], 0
    for insn in insns:
        if insn.opcode == 0x18 and insn.imm & ~0xFFFF == FUNC_BASE:
            insn = insn.replace(src=4, imm=(insn.imm & 0xFFFF) - pc - 1)
        out.append(insn)
        pc += insn.slots
    return out


def placeholder_refs(insns: list[Instruction], names: list[str]) -> list[MapReference]:
    """lddw of 0xfeed000N (map N, 1-based) or 0xfeee000N (its value) become map references."""
    refs, pc = [], 0
    for insn in insns:
        if insn.opcode == 0x18 and (insn.imm & ~0xFFFF) in (FD_BASE, VALUE_BASE) and 1 <= insn.imm & 0xFFFF <= len(names):
            kind = "fd" if insn.imm & ~0xFFFF == FD_BASE else "value"
            refs.append(MapReference(pc, names[(insn.imm & 0xFFFF) - 1], kind, 0))
        pc += insn.slots
    return refs


def c_cases() -> list[dict[str, Any]]:
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c

    out = []
    build = Path("/tmp/pybpf-verifier-corpus")
    build.mkdir(exist_ok=True)
    for src in sorted((DATA / "c").glob("*.c")):
        obj = compile_c(src, build / (src.stem + ".o"))
        spec = load_file(obj)
        for prog in spec.programs.values():
            maps = {r.map_name: spec.maps[r.map_name] for r in prog.map_references}
            case = label(f"c/{src.stem}/{prog.name}", "c", int(prog.type), list(prog.instructions), maps,
                         list(prog.map_references), prog.license or spec.license or "GPL",
                         {"section": prog.section, "object_source": f"c/{src.name}", "program": prog.name},
                         prog=prog, btf=spec.btf)
            case.pop("insns")  # re-built from the C source by the tests (BTF func_info is needed)
            out.append(case)
    return out


def random_cases(n: int) -> list[dict[str, Any]]:
    from verifier_progen import generate

    out = []
    for seed in range(n):
        g = generate(seed)
        case = label(g.name, "random", g.program_type, g.insns, g.maps, g.refs, extra={"seed": seed})
        out.append(case)
    return out


def sample_cases() -> list[dict[str, Any]]:
    from pybpf.errors import BpfError
    from pybpf.object import load_file

    root = Path(os.environ.get("PYBPF_SHARED", ROOT.parent / "shared")) / "ebpf-samples"
    out = []
    for path in sorted(root.rglob("*.o")):
        rel = path.relative_to(root).as_posix()
        try:
            spec = load_file(path)
        except (BpfError, OSError, ValueError) as exc:
            out.append({"name": f"samples/{rel}", "source": "samples", "unusable": f"object: {exc}"})
            continue
        for prog in spec.programs.values():
            name = f"samples/{rel}/{prog.section}/{prog.name}"
            if prog.type == ProgramType.UNSPEC:
                out.append({"name": name, "source": "samples", "unusable": "unknown program type"})
                continue
            maps = {r.map_name: spec.maps[r.map_name] for r in prog.map_references if r.map_name in spec.maps}
            try:
                license = prog.license or spec.license or ""
                case = label(name, "samples", int(prog.type), list(prog.instructions), maps,
                             list(prog.map_references), license,
                             {"object": rel, "section": prog.section, "program": prog.name},
                             prog=replace(prog, license=license))  # with its expected attach type
            except (OSError, KeyError) as exc:
                out.append({"name": name, "source": "samples", "unusable": f"load: {exc}"})
                continue
            case.pop("insns")  # re-read from the shared object by the tests
            out.append(case)
    return out


def write(name: str, cases: list[dict[str, Any]]) -> None:
    doc = {"kernel": platform.release(), "generator": "tools/label_verifier_corpus.py", "cases": cases}
    (DATA / name).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    acc = sum(1 for c in cases if c.get("kernel", {}).get("accepted"))
    print(f"{name}: {len(cases)} cases, {acc} accepted by the kernel")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--asm", action="store_true")
    ap.add_argument("--c", action="store_true")
    ap.add_argument("--random", type=int, default=0)
    ap.add_argument("--samples", action="store_true")
    args = ap.parse_args()
    everything = not (args.asm or args.c or args.random or args.samples)
    if args.asm or everything:
        write("labels_asm.json", [asm_case(p) for p in sorted((DATA / "asm").glob("*.s"))])
    if args.c or everything:
        write("labels_c.json", c_cases())
    if args.random or everything:
        write("labels_random.json", random_cases(args.random or 1500))
    if args.samples or everything:
        write("labels_samples.json", sample_cases())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
