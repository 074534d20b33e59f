"""Kernel symbols from /proc/kallsyms: the function (and module) that holds a kernel instruction address."""

from __future__ import annotations

import bisect
from functools import lru_cache


class KernelSymbols:
    """Text symbols of the running kernel and its modules, sorted by address."""

    def __init__(self, text: str) -> None:
        rows: list[tuple[int, str, str]] = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 3 or parts[1] not in ("t", "T", "w", "W"):
                continue
            addr = int(parts[0], 16)
            if addr:
                rows.append((addr, parts[2], parts[3].strip("[]") if len(parts) > 3 else ""))
        rows.sort()
        self.addresses = [r[0] for r in rows]
        self.names = [r[1] for r in rows]
        self.modules = [r[2] for r in rows]

    def lookup(self, address: int) -> tuple[str, str]:
        """(function, module) of a kernel address: ("[unknown]", "") when kallsyms does not cover it."""
        i = bisect.bisect_right(self.addresses, address) - 1
        if i < 0:
            return "[unknown]", ""
        return self.names[i], self.modules[i]


@lru_cache(maxsize=1)
def kernel_symbols() -> KernelSymbols:
    """The running kernel's symbols (read once; addresses are zero when kptr_restrict hides them)."""
    try:
        with open("/proc/kallsyms") as f:
            return KernelSymbols(f.read())
    except OSError:
        return KernelSymbols("")
