"""Which program types may call each helper: the running kernel's answer when probed, else the fallback table.

`pybpf.kernel.kfacts` probes the running kernel with bpf() and caches the answer per kernel build in
the user's cache directory; this module reads that cache, and falls back to a table generated once
on one build (`availability_fallback`) only where no probe of this build exists (bpf() not permitted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pybpf.cachedir import kernel_build, read_kernel_facts
from pybpf.helpers import availability_fallback as _fallback

FACTS_NAME = "helpers.json"


def _from_facts(facts: Any) -> tuple[dict[int, tuple[str, ...]], tuple[str, ...]] | None:
    """(available, probed) from cached facts, or None when they are malformed."""
    try:
        probed = tuple(str(name) for name in facts["probed"])
        available = {int(k): tuple(str(n) for n in v) for k, v in facts["available"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return available, probed


def _initial() -> tuple[dict[int, tuple[str, ...]], tuple[str, ...], str]:
    live = _from_facts(read_kernel_facts(FACTS_NAME))
    if live is not None:
        return live[0], live[1], f"probed on the running kernel ({kernel_build()})"
    return dict(_fallback.AVAILABLE), _fallback.PROBED, f"fallback table generated on {_fallback.KERNEL}"


# helper id -> names of the program types (pybpf.abi.ProgramType) that may call it
AVAILABLE: dict[int, tuple[str, ...]]
# program types that were probed (others: unknown, the prototype's documented family applies)
PROBED: tuple[str, ...]
# where AVAILABLE comes from, for messages and `pybpf feature`
SOURCE: str
AVAILABLE, PROBED, SOURCE = _initial()


def use(available: Mapping[int, Iterable[str]], probed: Iterable[str], source: str) -> None:
    """Replace the table with another answer (the live probe); pybpf.helpers.refresh() rebuilds the catalogue."""
    global AVAILABLE, PROBED, SOURCE
    AVAILABLE = {int(k): tuple(v) for k, v in available.items()}
    PROBED = tuple(probed)
    SOURCE = source
