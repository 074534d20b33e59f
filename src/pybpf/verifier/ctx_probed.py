"""Context accesses the kernel allows per program type: the running kernel's answer when probed, else the fallback.

`pybpf.kernel.kfacts` probes every (offset, size) of the probed context types with bpf() and caches
the answer per kernel build in the user's cache directory; this module reads that cache and falls
back to a table generated once on one build (`ctx_fallback`) only where no probe of this build exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pybpf.cachedir import kernel_build, read_kernel_facts
from pybpf.verifier import ctx_fallback as _fallback

FACTS_NAME = "ctx.json"

Pairs = frozenset[tuple[int, int]]
# program type -> (readable (offset, size) pairs, writable pairs, offset -> pointer kind loaded)
Table = dict[int, tuple[Pairs, Pairs, dict[int, str]]]


def _pairs(items: Any) -> Pairs:
    return frozenset((int(off), int(size)) for off, size in items)


def decode(facts: Any) -> tuple[Table, dict[str, Pairs]] | None:
    """(PROBED, SOCK_READS) from the JSON form written by pybpf.kernel.kfacts, or None when malformed."""
    try:
        probed: Table = {
            int(ptype): (_pairs(e["reads"]), _pairs(e["writes"]), {int(o): str(k) for o, k in e["pointers"].items()})
            for ptype, e in facts["types"].items()
        }
        sock = {str(kind): _pairs(pairs) for kind, pairs in facts["sock"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return probed, sock


def _initial() -> tuple[Table, dict[str, Pairs], str]:
    live = decode(read_kernel_facts(FACTS_NAME))
    if live is not None:
        return live[0], live[1], f"probed on the running kernel ({kernel_build()})"
    return dict(_fallback.PROBED), dict(_fallback.SOCK_READS), "fallback table"


PROBED: Table
# readable (offset, size) of struct bpf_sock / bpf_tcp_sock through socket pointers
SOCK_READS: dict[str, Pairs]
SOURCE: str
PROBED, SOCK_READS, SOURCE = _initial()


def use(probed: Mapping[int, tuple[Pairs, Pairs, dict[int, str]]], sock: Mapping[str, Pairs], source: str) -> None:
    """Replace the tables with another answer (the live probe); read at each context access."""
    global PROBED, SOCK_READS, SOURCE
    PROBED = dict(probed)
    SOCK_READS = dict(sock)
    SOURCE = source
