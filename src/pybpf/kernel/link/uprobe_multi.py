"""Uprobe-multi links (Linux 6.6+): one bpf_link puts a program on many offsets of one binary at once.

`SEC("uprobe.multi/PATH:PATTERN")` (and `uretprobe.multi`) attach to every function of PATH whose
name matches the glob PATTERN, as libbpf does; USDT programs use one such link for all the sites of
a probe when the running kernel has them. A program must be loaded for this attach type
(expected_attach_type BPF_TRACE_UPROBE_MULTI) to be attached this way, and can then not be
attached through a perf event.
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import functools
import os
from collections.abc import Sequence

from pybpf.abi import AttachType, ProgramType
from pybpf.errors import BpfError, KernelError, LoadError
from pybpf.kernel.link.base import BpfLink, ProgLike, expect_type, link_create

BPF_F_UPROBE_MULTI_RETURN = 1
_STT_FUNC, _STT_GNU_IFUNC = 2, 10


@functools.cache
def uprobe_multi_supported() -> bool:
    """Whether the running kernel makes uprobe-multi links (probed as libbpf does: a link on the
    directory "/" fails with EBADF only where the attach type exists)."""
    from pybpf.isa import assemble
    from pybpf.kernel.programs import load_program

    try:
        prog = load_program(ProgramType.KPROBE, tuple(assemble("r0 = 0\nexit")), license="GPL",
                            expected_attach_type=int(AttachType.TRACE_UPROBE_MULTI))
    except BpfError:
        return False
    path = ctypes.create_string_buffer(b"/")
    offsets = (ctypes.c_uint64 * 1)(0)
    try:
        link = link_create(prog.fd, 0, int(AttachType.TRACE_UPROBE_MULTI),
                           extra=(ctypes.addressof(path), ctypes.addressof(offsets), 0, 0, 1, 0))
    except KernelError as exc:
        return exc.errno == errno.EBADF
    else:  # never expected: the directory was accepted
        link.close()
        return True
    finally:
        prog.close()


def function_offsets(binary: str, pattern: str) -> list[tuple[str, int]]:
    """(name, file offset) of the functions of `binary` whose names match the glob `pattern`, each
    address once (aliases share one probe), sorted by name."""
    from pybpf.kernel.uprobe import address_to_offset, defined_symbols, open_elf, resolve_binary

    path = resolve_binary(binary)
    elf = open_elf(path)
    seen: dict[int, str] = {}
    for sym in defined_symbols(elf):
        name = sym.name.split("@")[0]
        if sym.type in (_STT_FUNC, _STT_GNU_IFUNC) and sym.value and fnmatch.fnmatchcase(name, pattern):
            seen.setdefault(sym.value, name)
    if not seen:
        raise LoadError(f"no function of {path} matches {pattern!r}")
    return sorted(((name, address_to_offset(elf, address)) for address, name in seen.items()))


def attach_uprobe_multi(prog: ProgLike, binary: str, pattern: str | None = None, *,
                        offsets: Sequence[int] | None = None, ref_ctr_offsets: Sequence[int] | None = None,
                        cookies: Sequence[int] | None = None, retprobe: bool = False, pid: int = -1,
                        description: str = "") -> BpfLink:
    """One uprobe-multi link on the functions of `binary` matching `pattern`, or on the file `offsets`
    given (with optional per-offset USDT semaphore offsets and BPF cookies); `pid` -1 for every process."""
    from pybpf.kernel.uprobe import resolve_binary

    expect_type(prog, {ProgramType.KPROBE}, "a uprobe-multi link")
    path = resolve_binary(binary)
    if offsets is None:
        if not pattern:
            raise LoadError("a uprobe-multi link needs a function pattern or offsets")
        offsets = [off for _, off in function_offsets(path, pattern)]
    count = len(offsets)
    if count == 0:
        raise LoadError("a uprobe-multi link needs at least one offset")
    for name, values in (("ref_ctr_offsets", ref_ctr_offsets), ("cookies", cookies)):
        if values is not None and len(values) != count:
            raise LoadError(f"uprobe-multi: {len(values)} {name} for {count} offsets")
    cpath = ctypes.create_string_buffer(os.fsencode(path))
    arrays = [(ctypes.c_uint64 * count)(*values) if values is not None else None
              for values in (offsets, ref_ctr_offsets, cookies)]
    words = [ctypes.addressof(a) if a is not None else 0 for a in arrays]
    flags = BPF_F_UPROBE_MULTI_RETURN if retprobe else 0
    kind = "uretprobe.multi" if retprobe else "uprobe.multi"
    what = description or f"{kind} {path}:{pattern or f'{count} offsets'}"
    fd = link_create(prog, 0, int(AttachType.TRACE_UPROBE_MULTI),
                     extra=(ctypes.addressof(cpath), *words, count | (flags << 32), max(pid, 0)),
                     description=what)
    return BpfLink(fd, what)
