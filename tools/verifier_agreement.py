"""Compare pybpf.verifier with the kernel's recorded verdicts on the labelled corpus and print the figures.

    .venv/bin/python tools/verifier_agreement.py [--source asm|c|random|samples] [--show]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pybpf.abi import AttachType, MapType  # noqa: E402
from pybpf.errors import BpfError, VerifierError  # noqa: E402
from pybpf.isa import decode  # noqa: E402
from pybpf.object.spec import MapReference, MapSpec, ProgramSpec  # noqa: E402
from pybpf.verifier import verify  # noqa: E402

DATA = ROOT / "tests" / "data" / "verifier"
SHARED = Path(os.environ.get("PYBPF_SHARED", ROOT.parent / "shared"))
# Kernel rejections that are not about safety: resources, BTF, the kernel's own limits.
NOT_SAFETY = ("missing btf func_info", "errno ", "BPF program is too large", "BPF program is too complex",
              "unknown func", "program of this type cannot use helper", "calling kernel function")


def map_from_json(d: dict[str, Any]) -> MapSpec:
    return MapSpec(d["name"], MapType(d["type"]), d["key_size"], d["value_size"], d["max_entries"], d["flags"],
                   contents=tuple((bytes.fromhex(k), bytes.fromhex(v)) for k, v in d["contents"]),
                   frozen=d["frozen"], inner_map=map_from_json(d["inner"]) if d.get("inner") else None)


LIMITS = ("BPF program is too large", "BPF program is too complex")
_SAMPLE_CACHE: dict[str, Any] = {}


def with_static_funcs(prog: ProgramSpec) -> ProgramSpec:
    """`prog` with the BTF the kernel engine gives hand-assembled sub-programs: one static FUNC each
    (pybpf.kernel.btfload.synthetic_func_btf), so callbacks and tail calls in sub-programs can load."""
    from pybpf.btf.btf import Btf
    from pybpf.btf.ext import FuncInfo
    from pybpf.kernel.btfload import synthetic_func_btf

    blob, ext = synthetic_func_btf(prog, list(prog.instructions))
    infos = tuple(FuncInfo(*pair) for pair in zip(*[iter(memoryview(ext.func_info).cast("I"))] * 2, strict=True))
    return replace(prog, btf=Btf.parse(blob), func_infos=infos)


def program_of(case: dict[str, Any]) -> tuple[ProgramSpec, dict[str, MapSpec]]:
    """The ProgramSpec and maps a labelled case describes."""
    maps = {m["name"]: map_from_json(m) for m in case["maps"]}
    if "insns" in case:
        insns = tuple(decode(bytes.fromhex(case["insns"])))
        refs = tuple(MapReference(pc, name, kind, off) for pc, name, kind, off in case["refs"])
        attach = case.get("attach_type")
        prog = ProgramSpec(case["name"], insns, type=case["type"], map_references=refs, license=case["license"],
                           attach_type=AttachType(attach) if attach is not None else None)
        return (with_static_funcs(prog) if case.get("btf") == "funcs" else prog), maps
    from pybpf.object import load_file

    if "object_source" in case:
        from pybpf.toolchain import compile_c

        obj = case["object_source"]
        if obj not in _SAMPLE_CACHE:
            _SAMPLE_CACHE.clear()
            _SAMPLE_CACHE[obj] = load_file(compile_c(DATA / obj))
    else:
        obj = case["object"]
        if obj not in _SAMPLE_CACHE:
            _SAMPLE_CACHE.clear()
            _SAMPLE_CACHE[obj] = load_file(SHARED / "ebpf-samples" / obj)
    spec = _SAMPLE_CACHE[obj]
    for prog in spec.programs.values():
        if prog.name == case["program"] and prog.section == case["section"]:
            # the kernel was given the program's license, "GPL" when the object has none
            return replace(prog, license=prog.license or "GPL"), dict(spec.maps)
    raise KeyError(case["name"])


def message_class(msg: str) -> str:
    """A message without its numbers: 'invalid access to packet, off=#' etc."""
    return re.sub(r"-?\d+", "#", msg.split(",")[0]).strip()


@dataclass
class Outcome:
    name: str
    kernel_ok: bool
    pybpf_ok: bool
    same_insn: bool = False
    same_class: bool = False
    mine: str = ""
    kernel: str = ""
    safety: bool = True
    ns: int = 0


def compare(case: dict[str, Any]) -> Outcome | None:
    if "unusable" in case:
        return None
    k = case["kernel"]
    prog, maps = program_of(case)
    t0 = time.perf_counter_ns()
    try:
        verify(prog, case["type"], maps=maps)
        ok, insn, msg = True, None, ""
    except VerifierError as exc:
        ok, insn, msg = False, exc.insn, exc.reason
    except BpfError as exc:
        ok, insn, msg = False, None, f"error: {exc}"
    ns = time.perf_counter_ns() - t0
    kmsgs = k["messages"]
    safety = not any(m.startswith(NOT_SAFETY) for m in kmsgs)
    out = Outcome(case["name"], k["accepted"], ok, ns=ns, mine=msg, kernel=" | ".join(kmsgs), safety=safety)
    if not ok and not k["accepted"]:
        out.same_insn = k["insn"] is None or insn == k["insn"]
        out.same_class = any(message_class(msg) == message_class(m) for m in kmsgs)
    return out


@dataclass
class Figures:
    cases: int = 0
    kernel_accepts: int = 0
    kernel_rejects: int = 0
    both_accept: int = 0
    unsafe_accepts: list[str] = field(default_factory=list)
    nonsafety_accepts: list[str] = field(default_factory=list)
    false_rejects: list[Outcome] = field(default_factory=list)
    same_insn: int = 0
    same_class: int = 0
    both_reject: int = 0

    def add(self, o: Outcome) -> None:
        self.cases += 1
        if o.kernel_ok:
            self.kernel_accepts += 1
            if o.pybpf_ok:
                self.both_accept += 1
            else:
                self.false_rejects.append(o)
        else:
            self.kernel_rejects += 1
            if o.pybpf_ok:
                (self.unsafe_accepts if o.safety else self.nonsafety_accepts).append(o.name)
            else:
                self.both_reject += 1
                self.same_insn += o.same_insn
                self.same_class += o.same_class

    def lines(self, title: str) -> list[str]:
        pct = 100.0 * self.both_accept / self.kernel_accepts if self.kernel_accepts else 100.0
        return [
            f"{title}: {self.cases} programs, kernel accepts {self.kernel_accepts}, rejects {self.kernel_rejects}",
            f"  unsafe accepts (kernel rejects for safety, pybpf accepts): {len(self.unsafe_accepts)}",
            f"  accepted by both: {self.both_accept}/{self.kernel_accepts} ({pct:.1f}%)",
            f"  rejected by both: {self.both_reject}; same insn {self.same_insn}, same message class {self.same_class}",
            f"  kernel rejects for a non-safety reason (limits, BTF), pybpf accepts: {len(self.nonsafety_accepts)}",
        ]


def load_cases(source: str) -> list[dict[str, Any]]:
    path = DATA / f"labels_{source}.json"
    if not path.exists():
        return []
    cases: list[dict[str, Any]] = json.loads(path.read_text())["cases"]
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", action="append", choices=["asm", "c", "random", "samples"])
    ap.add_argument("--show", action="store_true", help="list every disagreement")
    ap.add_argument("--all", action="store_true",
                    help="include programs the kernel rejected at its 1M-instruction limit (slow in Python)")
    ap.add_argument("--max-kernel-insns", type=int, default=0,
                    help="skip programs whose kernel verification processed more instructions than this")
    args = ap.parse_args()
    total = Figures()
    for source in args.source or ["asm", "c", "random", "samples"]:
        figs = Figures()
        for case in load_cases(source):
            k = case.get("kernel", {})
            if not args.all and any(m.startswith(LIMITS) for m in k.get("messages", [])):
                continue
            if args.max_kernel_insns and (k.get("processed") or 0) > args.max_kernel_insns:
                continue
            o = compare(case)
            if o is None:
                continue
            figs.add(o)
            total.add(o)
            if args.show and (o.kernel_ok != o.pybpf_ok or (not o.pybpf_ok and not o.same_class)):
                print(f"  {o.name}: kernel={'ok' if o.kernel_ok else o.kernel} pybpf={'ok' if o.pybpf_ok else o.mine}")
        if figs.cases:
            print("\n".join(figs.lines(source)))
    print("\n".join(total.lines("total")))
    if total.unsafe_accepts:
        print("UNSAFE ACCEPTS:", ", ".join(total.unsafe_accepts))
    return 1 if total.unsafe_accepts else 0


if __name__ == "__main__":
    raise SystemExit(main())
