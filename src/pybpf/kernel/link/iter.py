"""BPF iterators (iter/task, iter/task_file, ...): a link to the target, then reading an iterator fd runs
the program once per object (and a last time with a NULL object)."""

from __future__ import annotations

import os

from pybpf.abi import AttachType
from pybpf.kernel.attr import Attr, u32
from pybpf.kernel.fd import FD
from pybpf.kernel.link.base import BpfLink, ProgLike, link_create
from pybpf.kernel.syscall import Cmd, bpf


class IterCreateAttr(Attr):
    _fields_ = [("link_fd", u32), ("flags", u32)]


def attach_iter(prog: ProgLike, target: str = "") -> BpfLink:
    """BPF_LINK_CREATE with BPF_TRACE_ITER (the target, e.g. bpf_iter_task, was fixed at load time)."""
    fd = link_create(prog, 0, AttachType.TRACE_ITER, description=f"iter {target}".strip())
    return BpfLink(fd, f"iter {target}".strip())


def run_iter(link: BpfLink, chunk: int = 1 << 16) -> bytes:
    """BPF_ITER_CREATE on the link and read the iterator to its end: what the program wrote with
    bpf_seq_printf/bpf_seq_write (the program runs once per object as the reads go)."""
    fd = FD(bpf(Cmd.ITER_CREATE, IterCreateAttr(link_fd=link.fd).raw()))
    out = bytearray()
    try:
        while True:
            data = os.read(fd.fd, chunk)
            if not data:
                return bytes(out)
            out += data
    finally:
        fd.close()
