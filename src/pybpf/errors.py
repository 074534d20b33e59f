"""The one exception tree of pybpf: every error a user can cause is a BpfError with context."""

from __future__ import annotations


class BpfError(Exception):
    """Base of every error pybpf raises on bad input or a failed operation."""


class AssemblyError(BpfError):
    """Bad assembly text or bad bytecode; names the line/column or the instruction index."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        index: int | None = None,
    ) -> None:
        self.reason = message
        self.line = line
        self.column = column
        self.index = index
        where = []
        if line is not None:
            where.append(f"line {line}")
            if column is not None:
                where.append(f"column {column}")
        if index is not None:
            where.append(f"instruction {index}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class ObjectError(BpfError):
    """A malformed or unsupported ELF object; the message says what and where."""


class VerifierError(BpfError):
    """A program the verifier rejects: instruction index, kernel-style reason and the state log."""

    def __init__(self, reason: str, *, insn: int | None = None, log: str = "") -> None:
        self.reason = reason
        self.insn = insn
        self.log = log
        super().__init__(reason if insn is None else f"insn {insn}: {reason}")


class VerifierUnsupported(VerifierError):
    """A program pybpf's verifier cannot judge (a kernel feature it does not model): no verdict on its safety.

    The kernel's verifier alone can judge it: load on the kernel engine without pybpf's verifier,
    `Runtime("kernel", verify=False)` or `--no-verify` on the command line.
    """

    HINT = ("pybpf's verifier does not model this; to let the kernel's verifier alone judge it, load with "
            "Runtime('kernel', verify=False), `pybpf run --engine kernel --no-verify` or `pybpf attach --no-verify`")

    def __init__(self, reason: str, *, insn: int | None = None, log: str = "") -> None:
        super().__init__(f"{reason} ({self.HINT})", insn=insn, log=log)


class LoadError(BpfError):
    """A spec that cannot be turned into a live collection (unknown helper, bad map, ...)."""


class KernelError(BpfError):
    """A bpf() or related syscall failed; carries errno and the command that failed."""

    def __init__(self, message: str, *, errno: int = 0) -> None:
        self.errno = errno
        super().__init__(message)


class MapError(BpfError):
    """A map operation failed; errno is the kernel's (ENOENT, EEXIST, E2BIG, ...)."""

    def __init__(self, message: str, *, errno: int) -> None:
        self.errno = errno
        super().__init__(message)


class RuntimeFault(BpfError):
    """A program misbehaved while running: bad memory access, budget exhausted, bad call."""

    def __init__(
        self,
        message: str,
        *,
        pc: int | None = None,
        address: int | None = None,
        size: int | None = None,
    ) -> None:
        self.reason = message
        self.pc = pc
        self.address = address
        self.size = size
        super().__init__(message if pc is None else f"pc {pc}: {message}")
