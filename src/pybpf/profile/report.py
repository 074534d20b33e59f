"""Text outputs of a Profile: folded stacks, JSON for scripts, the terminal `top` table, and the file writer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pybpf.errors import LoadError
from pybpf.profile.model import Profile

FORMATS = ("folded", "svg", "html", "pprof", "json")


def folded(profile: Profile) -> str:
    """Brendan Gregg's folded stacks, one `comm;root;...;leaf count` line each, most samples first."""
    return "".join(f"{stack} {count}\n" for stack, count in profile.folded().most_common())


def to_json(profile: Profile) -> dict[str, Any]:
    """The profile as plain data: run facts, counters and every stack with its frames."""
    return {
        "event": profile.event, "frequency": profile.frequency, "duration": round(profile.duration, 3),
        "total": profile.total, "stats": profile.stats,
        "samples": [{"pid": s.pid, "comm": s.comm, "count": s.count,
                     "frames": [{"name": f.name, "module": f.module, "kind": f.kind, "address": f.address,
                                 "build_id": f.mapping.build_id if f.mapping else ""}
                                for f in s.frames]}
                    for s in profile.samples],
    }


def render(profile: Profile, fmt: str) -> bytes:
    """The profile in output format `fmt` (one of FORMATS)."""
    if fmt == "folded":
        return folded(profile).encode()
    if fmt == "json":
        return (json.dumps(to_json(profile), indent=1) + "\n").encode()
    if fmt == "svg":
        from pybpf.profile.flamegraph import render_svg

        return render_svg(profile).encode()
    if fmt == "html":
        from pybpf.profile.flamegraph import render_html

        return render_html(profile).encode()
    if fmt == "pprof":
        from pybpf.profile.pprof import dumps

        return dumps(profile)
    raise LoadError(f"unknown output format {fmt!r} (choose from {', '.join(FORMATS)})")


def format_for(path: str, fmt: str | None) -> str:
    """The format asked for, else the one the file name's extension implies (folded by default)."""
    if fmt:
        if fmt not in FORMATS:
            raise LoadError(f"unknown output format {fmt!r} (choose from {', '.join(FORMATS)})")
        return fmt
    suffix = Path(path).suffix.lower()
    return {".svg": "svg", ".html": "html", ".htm": "html", ".pb": "pprof", ".gz": "pprof", ".pprof": "pprof",
            ".json": "json"}.get(suffix, "folded")


def summary(profile: Profile) -> str:
    """One line of run facts and the sampler's counters (lost samples, stack-map collisions)."""
    st = profile.stats
    collisions = st.get("user_stack_collisions", 0) + st.get("kernel_stack_collisions", 0)
    return (f"{profile.total} samples in {profile.duration:.1f} s ({profile.event} at {profile.frequency} Hz); "
            f"lost {st.get('lost', 0)}, stack-map collisions {collisions}, "
            f"Python frame read errors {st.get('python_read_errors', 0)}")


def top_table(profile: Profile, limit: int = 25) -> Any:
    """A rich Table of the hottest functions: self and total samples with their shares."""
    from rich.markup import escape
    from rich.table import Table

    own, total = profile.self_and_total()
    n = max(profile.total, 1)
    table = Table(title=escape(summary(profile)), title_justify="left")
    for col in ("self", "self %", "total", "total %"):
        table.add_column(col, justify="right")
    table.add_column("function")
    for label, count in own.most_common(limit):
        table.add_row(str(count), f"{100 * count / n:.1f}", str(total[label]), f"{100 * total[label] / n:.1f}",
                      escape(label))
    return table
