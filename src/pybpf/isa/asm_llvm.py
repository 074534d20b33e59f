"""The LLVM / kernel verifier log assembly syntax (`r0 = 1`, `if r1 > 2 goto +3`): parser."""

from __future__ import annotations

from collections.abc import Mapping

from pybpf.isa.asm_common import Program
from pybpf.isa.lexer import Cursor


def preprocess(line: str) -> str | None:
    return line


def looks_like_llvm(line: str) -> bool:
    return "=" in line.split("#")[0] or line.strip().startswith(("if ", "goto"))


def parse_line(cursor: Cursor, program: Program, helper_ids: Mapping[str, int] | None) -> None:
    raise cursor.error("LLVM syntax is not implemented yet")
