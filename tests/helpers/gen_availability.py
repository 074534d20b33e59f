"""Regenerate src/pybpf/helpers/availability_fallback.py (the table used only where bpf() cannot probe) by asking the running kernel which helpers each program type may call.

Run as root: `.venv/bin/python tests/helpers/gen_availability.py > src/pybpf/helpers/availability_fallback.py`.
Each helper is called from a tiny program of each type; the verifier's "program of this type cannot
use helper" (or "unknown func") means unavailable, any other verdict means the type may call it.
"""

from __future__ import annotations

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.kprobe_util import close, insn, prog_load  # noqa: E402
from pybpf.abi import AttachType, ProgramType  # noqa: E402
from pybpf.helpers.ids import HELPER_NAMES  # noqa: E402


def btf_func_id(name: str) -> int:
    """The vmlinux BTF id of FUNC `name` (0 if absent)."""
    data = open("/sys/kernel/btf/vmlinux", "rb").read()
    _, _, _, hl, to, tl, so, _ = struct.unpack_from("<HBBIIIII", data, 0)
    ts, ss = hl + to, hl + so
    want = name.encode() + b"\0"
    p, end, tid = ts, ts + tl, 0
    while p < end:
        no, info, _ = struct.unpack_from("<III", data, p)
        p += 12
        tid += 1
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if kind == 12 and data[ss + no : ss + no + len(want)] == want:
            return tid
        p += {
            1: 4,
            3: 12,
            4: 12 * vlen,
            5: 12 * vlen,
            6: 8 * vlen,
            13: 8 * vlen,
            14: 4,
            15: 12 * vlen,
            17: 4,
        }.get(kind, 0) + (12 * vlen if kind == 19 else 0)
    return 0


def settings() -> dict[ProgramType, dict[str, int]]:
    """How to load a probe program of each type (types needing an attach target get one)."""
    T, AT = ProgramType, AttachType
    out: dict[ProgramType, dict[str, int]] = {
        t: {} for t in T if t not in (T.UNSPEC, T.EXT, T.STRUCT_OPS)
    }
    out[T.CGROUP_SOCK_ADDR] = {"expected_attach_type": AT.CGROUP_INET4_CONNECT}
    out[T.CGROUP_SOCKOPT] = {"expected_attach_type": AT.CGROUP_GETSOCKOPT}
    out[T.SK_LOOKUP] = {"expected_attach_type": AT.SK_LOOKUP}
    out[T.NETFILTER] = {"expected_attach_type": AT.NETFILTER}
    out[T.SYSCALL] = {"prog_flags": 1 << 4}  # BPF_F_SLEEPABLE: syscall programs must be sleepable
    out[T.TRACING] = {
        "expected_attach_type": AT.TRACE_FENTRY,
        "attach_btf_id": btf_func_id("do_nanosleep"),
    }
    out[T.LSM] = {
        "expected_attach_type": AT.LSM_MAC,
        "attach_btf_id": btf_func_id("bpf_lsm_file_open"),
    }
    return out


def available(prog_type: int, helper_id: int, opts: dict[str, int]) -> bool | None:
    code = (
        b"".join(insn(0xB7, r) for r in range(1, 6))
        + insn(0x85, imm=helper_id)
        + insn(0xB7, 0)
        + insn(0x95)
    )
    fd, _, log = prog_load(
        prog_type,
        code,
        expected_attach_type=opts.get("expected_attach_type", 0),
        attach_btf_id=opts.get("attach_btf_id", 0),
        prog_flags=opts.get("prog_flags", 0),
    )
    close(fd)
    if (
        "cannot use helper" in log
        or "unknown func" in log
        or "invalid func" in log
        or "not allowed in probe" in log
    ):
        return False
    if fd >= 0 or "(85) call" in log:
        return True  # accepted, or rejected for its arguments: the type may call it
    return None  # the type could not be loaded at all


def main() -> None:
    table: dict[int, list[str]] = {i: [] for i in range(1, len(HELPER_NAMES))}
    probed: list[str] = []
    for ptype, opts in settings().items():
        results = {i: available(ptype, i, opts) for i in table}
        if all(v is None for v in results.values()):
            print(f"# skipped {ptype.name}: cannot load", file=sys.stderr)
            continue
        probed.append(ptype.name)
        for i, ok in results.items():
            if ok:
                table[i].append(ptype.name)
    uname = os.uname()
    print(
        '"""Fallback helper availability per program type, generated once on one kernel build; used only where bpf() cannot probe the running kernel."""'
    )
    print()
    print("from __future__ import annotations")
    print()
    print(f"KERNEL = {uname.release!r}")
    print(
        "# Program types that were probed (others: availability unknown, use the prototype's program_types)."
    )
    print("PROBED: tuple[str, ...] = (")
    for name in probed:
        print(f"    {name!r},")
    print(")")
    print("_ALL = PROBED")
    print("# helper id -> names of the program types (pybpf.abi.ProgramType) that may call it.")
    print("# fmt: off")
    print("AVAILABLE: dict[int, tuple[str, ...]] = {")
    for i, types in table.items():
        value = (
            "_ALL"
            if types == probed
            else "(" + ", ".join(repr(t) for t in types) + ("," if len(types) == 1 else "") + ")"
        )
        print(f"    {i}: {value},  # {HELPER_NAMES[i]}")
    print("}")
    print("# fmt: on")


if __name__ == "__main__":
    main()
