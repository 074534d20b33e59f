"""Regenerate src/pybpf/verifier/ctx_fallback.py, the context rules used only where bpf() cannot probe.

    .venv/bin/python tools/probe_verifier_ctx.py

pybpf probes the running kernel itself (pybpf.kernel.kfacts, cached per kernel build); this writes
that answer as the fallback table for machines where bpf() is not permitted.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pybpf.abi import ProgramType as P  # noqa: E402
from pybpf.kernel import kfacts  # noqa: E402
from pybpf.verifier.ctx_probed import decode  # noqa: E402


def main() -> int:
    decoded = decode(kfacts.ctx_facts(refresh=True))
    if decoded is None:
        print("cannot probe: bpf() is not permitted here", file=sys.stderr)
        return 1
    probed, sock = decoded
    out = ['"""Fallback context access rules per program type, generated once on one kernel build; used only where'
           ' bpf() cannot probe the running kernel."""',
           "", "from __future__ import annotations", "",
           "# program type -> (readable (offset, size) pairs, writable pairs, offset -> pointer kind loaded)",
           "PROBED: dict[int, tuple[frozenset[tuple[int, int]], frozenset[tuple[int, int]], dict[int, str]]] = {"]
    for ptype, (reads, writes, ptrs) in probed.items():
        out.append(f"    {ptype}: (  # {P(ptype).name}")
        out.append(f"        frozenset({sorted(reads)!r}),")
        out.append(f"        frozenset({sorted(writes)!r}),")
        out.append(f"        {ptrs!r},")
        out.append("    ),")
    out.append("}")
    out.append("")
    out.append("# readable (offset, size) of struct bpf_sock / bpf_tcp_sock through socket pointers")
    out.append("SOCK_READS: dict[str, frozenset[tuple[int, int]]] = {")
    for kind, pairs in sock.items():
        out.append(f"    {kind!r}: frozenset({sorted(pairs)!r}),")
    out.append("}")
    (ROOT / "src" / "pybpf" / "verifier" / "ctx_fallback.py").write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
