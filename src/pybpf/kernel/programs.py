"""Kernel programs: BPF_PROG_LOAD with the verifier log, BPF_PROG_TEST_RUN, and KernelProgram."""

from __future__ import annotations

import ctypes
import errno
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pybpf.abi import ProgramType
from pybpf.collection import DataLike, Program, RunResult
from pybpf.errors import KernelError, VerifierError
from pybpf.isa.instruction import Instruction, encode
from pybpf.kernel.attr import ProgLoadAttr, TestRunAttr, ptr
from pybpf.kernel.fd import FD, FdBacked
from pybpf.kernel.maps import object_name
from pybpf.kernel.syscall import Cmd, bpf, errno_name
from pybpf.object.spec import ProgramSpec

ENOTSUPP = 524  # the kernel-internal "operation not supported" some commands return
BPF_F_SLEEPABLE = 1 << 4
BPF_F_TEST_RUN_ON_CPU = 1 << 0
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
LOG_SIZE_START = 1 << 20
LOG_SIZE_MAX = (1 << 30) - 1  # the kernel rejects bigger log buffers

_INSN_LINE = re.compile(r"^(\d+): ")
_INSN_IN_REASON = re.compile(r"\binsn (\d+)\b")
_TRAILER = ("processed ", "verification time", "stack depth", "max_states_per_insn", "-- END PROG LOAD LOG --")


@dataclass(frozen=True)
class BtfExt:
    """func_info / line_info records for BPF_PROG_LOAD (already encoded, with their record sizes)."""

    func_info: bytes = b""
    func_info_rec_size: int = 8
    line_info: bytes = b""
    line_info_rec_size: int = 16


def parse_verifier_log(log: str) -> tuple[str, int | None]:
    """(reason, insn index) from a verifier log: the last meaningful line and the insn it refers to."""
    lines = [ln.rstrip() for ln in log.splitlines() if ln.strip()]
    reason_at = -1
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].startswith(_TRAILER):
            reason_at = i
            break
    if reason_at < 0:
        return (lines[-1] if lines else "rejected by the kernel verifier"), None
    reason = lines[reason_at]
    m = _INSN_IN_REASON.search(reason)
    if m:
        return reason, int(m.group(1))
    for i in range(reason_at, -1, -1):
        m = _INSN_LINE.match(lines[i])
        if m:
            return reason, int(m.group(1))
    return reason, None


def _load(a: ProgLoadAttr, log_level: int, log_size: int) -> tuple[int, str, int]:
    """One BPF_PROG_LOAD attempt: (fd or -1, log text, errno)."""
    log = ctypes.create_string_buffer(log_size) if log_level else None
    a.log_level = log_level
    a.log_size = log_size if log_level else 0
    a.log_buf = ptr(log)
    try:
        return bpf(Cmd.PROG_LOAD, a.raw()), (log.value.decode(errors="replace") if log else ""), 0
    except KernelError as exc:
        text = log.value.decode(errors="replace") if log else ""
        return -1, text, exc.errno


def load_program(
    prog_type: int,
    insns: Sequence[Instruction] | bytes,
    *,
    license: str = "GPL",
    name: str = "",
    expected_attach_type: int = 0,
    kern_version: int = 0,
    flags: int = 0,
    btf_fd: int = 0,
    btf_ext: BtfExt | None = None,
    attach_btf_id: int = 0,
    attach_btf_obj_fd: int = 0,
    attach_prog_fd: int = 0,
    ifindex: int = 0,
    log_level: int = 0,
    log_out: list[str] | None = None,
) -> FD:
    """BPF_PROG_LOAD; on rejection raise VerifierError (kernel log, last line as reason, insn index).

    The first attempt runs without a log (fast); a failure is retried with log_level 1 (or the level
    asked for) to get the kernel's explanation. With `log_out`, the log of a successful load is appended.
    """
    code = insns if isinstance(insns, bytes) else encode(insns)
    if not code or len(code) % 8:
        raise KernelError(f"program {name!r} has no instructions or a truncated one", errno=errno.EINVAL)
    code_buf = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())
    ext = btf_ext or BtfExt()
    fi = ctypes.create_string_buffer(ext.func_info, len(ext.func_info)) if ext.func_info and btf_fd else None
    li = ctypes.create_string_buffer(ext.line_info, len(ext.line_info)) if ext.line_info and btf_fd else None
    a = ProgLoadAttr(
        prog_type=prog_type, insn_cnt=len(code) // 8, insns=ptr(code_buf), license=ptr(lic),
        kern_version=kern_version, prog_flags=flags, prog_name=object_name(name), prog_ifindex=ifindex,
        expected_attach_type=expected_attach_type, prog_btf_fd=btf_fd,
        func_info_rec_size=ext.func_info_rec_size if fi else 0, func_info=ptr(fi),
        func_info_cnt=len(ext.func_info) // ext.func_info_rec_size if fi else 0,
        line_info_rec_size=ext.line_info_rec_size if li else 0, line_info=ptr(li),
        line_info_cnt=len(ext.line_info) // ext.line_info_rec_size if li else 0,
        attach_btf_id=attach_btf_id, attach_prog_fd=attach_prog_fd or attach_btf_obj_fd,
    )
    size = LOG_SIZE_START
    fd, log, err = _load(a, log_level, size if log_level else 0)
    if fd < 0:
        level = log_level | 1  # the instruction trace is needed to say where it failed
        fd, log, err = _load(a, level, size)
        while fd < 0 and err == errno.ENOSPC and size < LOG_SIZE_MAX:
            size = min(size * 8, LOG_SIZE_MAX)
            fd, log, err = _load(a, level, size)
    if fd < 0:
        _raise_load_error(name, prog_type, err, log)
    if log_out is not None and log:
        log_out.append(log)
    return FD(fd)


def _raise_load_error(name: str, prog_type: int, err: int, log: str) -> None:
    try:
        kind = ProgramType(prog_type).name.lower()
    except ValueError:
        kind = f"type {prog_type}"
    if log.strip():
        reason, insn = parse_verifier_log(log)
        if "unknown#195896080" in reason:  # 0xbad2310: libbpf's (and pybpf's) poisoned CO-RE instruction
            reason += (" (a CO-RE relocation could not be resolved: the field, type or enum value does not "
                       "exist in this kernel's BTF)")
        exc = VerifierError(reason, insn=insn, log=log)
        exc.errno = err  # type: ignore[attr-defined]
        raise exc
    if err in (errno.EPERM, errno.EACCES):
        import os

        why = ("the kernel refuses this program type here (lockdown or a security policy?)"
               if os.geteuid() == 0 else "run as root or grant CAP_BPF (and CAP_PERFMON for tracing)")
        raise KernelError(f"cannot load program {name!r} ({kind}): {errno_name(err)}: {why}", errno=err)
    if err == errno.EINVAL:
        raise KernelError(
            f"cannot load program {name!r} ({kind}): EINVAL without a verifier log (program type, attach "
            "type or attach target not supported by this kernel?)", errno=err)
    raise KernelError(f"cannot load program {name!r} ({kind}): {errno_name(err)}", errno=err)


# --- BPF_PROG_TEST_RUN -------------------------------------------------------------------

def test_run(
    fd: int,
    data: bytes = b"",
    *,
    ctx: bytes | None = None,
    ctx_out_size: int | None = None,
    repeat: int = 1,
    flags: int = 0,
    cpu: int = 0,
    data_out_size: int | None = None,
    ctx_in_out: bool = False,
) -> RunResult:
    """BPF_PROG_TEST_RUN: retval, data_out, ctx_out and the kernel's average duration per run.

    With `ctx_in_out` (BPF_PROG_TYPE_SYSCALL) the kernel writes the context back into the input
    buffer, which is then returned as ctx_out.
    """
    din = ctypes.create_string_buffer(data, len(data)) if data else None
    out_size = data_out_size if data_out_size is not None else (len(data) + 4096 if data else 0)
    dout = ctypes.create_string_buffer(out_size) if out_size else None
    cin = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None
    csize = ctx_out_size if ctx_out_size is not None else (len(ctx) if ctx else 0)
    cout = ctypes.create_string_buffer(csize) if csize else None
    a = TestRunAttr(
        prog_fd=fd, data_size_in=len(data), data_size_out=out_size, data_in=ptr(din), data_out=ptr(dout),
        repeat=max(repeat, 1) if repeat > 1 else 0, ctx_size_in=len(ctx) if ctx else 0, ctx_size_out=csize,
        ctx_in=ptr(cin), ctx_out=ptr(cout), flags=flags, cpu=cpu,
    )
    buf = a.raw()
    try:
        bpf(Cmd.PROG_TEST_RUN, buf)
    except KernelError as exc:
        if exc.errno in (ENOTSUPP, errno.EOPNOTSUPP):
            raise KernelError("BPF_PROG_TEST_RUN is not supported for this program type by this kernel",
                              errno=exc.errno) from None
        hint = ""
        if exc.errno == errno.EINVAL:
            hint = (" (the kernel refused the input: packet programs need at least a 14-byte Ethernet frame, "
                    "skb programs a complete IPv4/IPv6 header in IP frames, and the context must match the "
                    "program type's)")
        raise KernelError(f"test run failed: {exc}{hint}", errno=exc.errno) from None
    a.load(buf)
    data_out = dout.raw[: a.data_size_out] if dout is not None and data else None
    ctx_out = cout.raw[: a.ctx_size_out] if cout is not None and ctx else None
    if ctx_in_out and cin is not None:
        ctx_out = cin.raw[: len(ctx or b"")]
    return RunResult(retval=int(a.retval), data_out=data_out, ctx_out=ctx_out, duration_ns=int(a.duration))


_PACKET_TYPES = frozenset({ProgramType.XDP, ProgramType.SCHED_CLS, ProgramType.SCHED_ACT,
                           ProgramType.SOCKET_FILTER, ProgramType.CGROUP_SKB, ProgramType.LWT_IN,
                           ProgramType.LWT_OUT, ProgramType.LWT_XMIT})


_CTX_ONLY_TYPES = frozenset({ProgramType.RAW_TRACEPOINT, ProgramType.RAW_TRACEPOINT_WRITABLE,
                             ProgramType.TRACING, ProgramType.SYSCALL})


class KernelProgram(FdBacked, Program):
    """A live kernel program behind an fd."""

    def __init__(self, spec: ProgramSpec, fd: FD, log: str = "", expected_attach_type: int = 0) -> None:
        self.spec = spec
        self._fd = fd
        self.verifier_log = log
        self.expected_attach_type = expected_attach_type  # as loaded: decides which links can take it
        self.collection: Callable[[], Any] | None = None  # weak reference to the loading collection

    def run(self, data: DataLike = b"", *, ctx: bytes | None = None, repeat: int = 1) -> RunResult:
        """BPF_PROG_TEST_RUN on packet `data` and/or context `ctx`; duration_ns is the kernel's mean per run.

        Note: for XDP, repeat > 1 makes the kernel patch its XDP dispatcher around the runs, a fixed cost
        of some milliseconds per call; repeat=1 calls take microseconds.
        """
        if self.spec.type in _PACKET_TYPES and len(data) < 14:
            raise KernelError(f"{self.spec.type.name.lower()} test runs need a packet of at least 14 bytes "
                              f"(an Ethernet header), got {len(data)}", errno=errno.EINVAL)
        if self.spec.type in _CTX_ONLY_TYPES:
            # these take only a context (raw tracepoint: the u64 arguments), once, with no ctx_out
            if data or repeat > 1:
                raise KernelError(f"{self.spec.type.name.lower()} test runs take only ctx=..., once",
                                  errno=errno.EINVAL)
            return test_run(self.fd, ctx=ctx, ctx_out_size=0,
                            ctx_in_out=self.spec.type == ProgramType.SYSCALL)
        return test_run(self.fd, bytes(data), ctx=ctx, repeat=repeat)

    def info(self) -> object:
        from pybpf.kernel.info import prog_info

        return prog_info(self.fd)
