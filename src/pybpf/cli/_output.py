"""Output conventions shared by the verbs: one JSON style, and rich tables only on a terminal.

A JSON document (`--json` of a verb that prints one result) is indented by 2; a stream of
events (`attach --json`, `trace --json`) is one compact JSON object per line, flushed, so
`jq` and line readers can follow it live.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

INDENT = 2


def print_json(document: Any) -> None:
    """One JSON document, indented by INDENT."""
    print(json.dumps(document, indent=INDENT, default=str))


def print_json_line(record: Any) -> None:
    """One record of a JSON-lines stream: compact, flushed."""
    print(json.dumps(record, default=str, separators=(",", ":")), flush=True)


def is_terminal(stream: Any = None) -> bool:
    """Whether `stream` (stdout by default) is a terminal: rich output there, plain text elsewhere."""
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str = "") -> None:
    """A table: drawn with rich on a terminal, plain aligned columns otherwise (for grep/awk)."""
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title or None, box=None, header_style="bold")
        for h in headers:
            table.add_column(h)
        for row in rows:
            table.add_row(*(str(c) for c in row))
        Console().print(table)
        return
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if title:
        print(title)
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def track(items: Sequence[T], describe: Callable[[T], str], stream: Any = None) -> Iterator[T]:
    """Iterate `items` showing progress on stderr: a transient rich bar on a terminal, nothing
    otherwise, so stdout is the same with or without a terminal. `describe(item)` names the
    item being worked on (e.g. "verifying xdp_firewall")."""
    stream = sys.stderr if stream is None else stream
    if not is_terminal(stream) or len(items) < 2:
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(file=stream), transient=True) as progress:
        task = progress.add_task("", total=len(items))
        for item in items:
            progress.update(task, description=describe(item))
            yield item
            progress.advance(task)
