"""The kernel-style verifier log: a path's registers where it starts, then `pc: (op) insn ; R0=1` lines.

As the kernel prints it at log level 2, each instruction line ends with the registers the
instruction wrote, as they are after it; a path taken from a branch starts with its full state.
"""

from __future__ import annotations

from typing import Any

from pybpf.helpers import HELPER_NAMES
from pybpf.isa.disasm import kernel_log_line
from pybpf.isa.instruction import Instruction

_HELPERS = {i: name for i, name in enumerate(HELPER_NAMES) if name}
MAX_LINES = 200_000


def regs_text(regs: list[Any], only: set[int] | None = None) -> str:
    """`R0=1 R10=fp0`: initialised registers (or just those in `only`)."""
    return " ".join(f"R{i}={r.describe()}" for i, r in enumerate(regs)
                    if r.type.value != "?" and (only is None or i in only))


class StateLog:
    """Collects the per-instruction log when enabled (kept cheap when disabled)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.lines: list[str] = []
        self.program: Any = None
        self._before: tuple[int, list[Any]] | None = None

    def path(self, pc: int, state: Any, origin: int | None = None) -> None:
        """A path starts (the entry or a pushed branch): its whole register state."""
        if self.enabled:
            where = f"from {origin} to {pc}" if origin is not None else f"{pc}"
            self.line(f"{where}: {regs_text(state.cur.regs)}")

    def insn(self, pc: int, insn: Instruction, state: Any) -> None:
        """The instruction is about to be checked: remember the registers to show what it wrote."""
        if not self.enabled:
            return
        self.line(kernel_log_line(pc, insn, _HELPERS))
        self._before = (len(state.frames), list(state.cur.regs))

    def after(self, state: Any) -> None:
        """The instruction was checked: append the registers it changed, as they are now."""
        if not self.enabled or self._before is None:
            return
        nframes, before = self._before
        self._before = None
        if len(state.frames) != nframes:  # a call or return: the new frame's registers
            written = regs_text(state.cur.regs)
        else:
            regs = state.cur.regs
            written = regs_text(regs, {i for i, r in enumerate(regs) if r != before[i]})
        if written:
            self.lines[-1] = self.lines[-1].ljust(38) + "; " + written

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        self.lines.append(text)
        if len(self.lines) > MAX_LINES:
            del self.lines[:MAX_LINES // 2]

    def text(self, error: str | None) -> str:
        if not self.enabled:
            return error or ""
        out = list(self.lines)
        if error:
            out.append(error)
        return "\n".join(out) + "\n"
