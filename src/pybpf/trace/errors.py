"""Script errors of the bpftrace language with bpftrace's location format (file:line:col-col, source, ~~~)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from pybpf.errors import BpfError


class TraceError(BpfError):
    """An error in a trace script: message plus the source span (1-based line and columns)."""

    def __init__(self, message: str, line: int = 0, column: int = 0, end_column: int = 0,
                 level: str = "ERROR") -> None:
        super().__init__(message)
        self.level = level
        self.message = message
        self.line = line
        self.column = column
        self.end_column = max(end_column, column + 1)

    def render(self, source: str, filename: str = "stdin") -> str:
        """bpftrace's layout: `stdin:1:14-17: ERROR: message`, the source line and a ~~~ underline."""
        if not self.line:
            return f"{filename}: {self.level}: {self.message}"
        lines = source.splitlines()
        text = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        head = f"{filename}:{self.line}:{self.column}-{self.end_column}: {self.level}: {self.message}"
        width = max(1, self.end_column - self.column)
        under = " " * (self.column - 1) + "~" * width  # bpftrace underlines with tildes
        return f"{head}\n{text}\n{under}"


F = TypeVar("F", bound=Callable[..., Any])
NESTING_RECURSION_LIMIT = 20000  # enough for ~1000 nested parentheses or a 5000-term sum


def bounded_nesting(func: F) -> F:
    """Run `func` with room for deeply nested scripts; past that room, a TraceError instead of RecursionError."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, NESTING_RECURSION_LIMIT))
        try:
            return func(*args, **kwargs)
        except RecursionError:
            raise TraceError("the script nests expressions or statements too deeply") from None
        finally:
            sys.setrecursionlimit(old)

    return wrapper  # type: ignore[return-value]
