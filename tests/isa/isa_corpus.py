"""Reading the shared `.data` test vectors (bpf_conformance / uBPF format) for the isa tests."""

from __future__ import annotations

from pathlib import Path


def sections(path: Path) -> dict[str, str]:
    """The `-- name` sections of a .data file (comments kept; the assembler strips them)."""
    result: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        if line.startswith("--"):
            current = result.setdefault(line[2:].strip(), [])
            continue
        if current is not None:
            current.append(line)
    return {name: "\n".join(body) for name, body in result.items()}


def raw_words(text: str) -> bytes:
    """A `-- raw` section (one little-endian u64 per slot) as bytecode."""
    words = [int(w, 0) for line in text.splitlines() for w in line.split("#")[0].split()]
    return b"".join((w & (1 << 64) - 1).to_bytes(8, "little") for w in words)
