"""Probe resolution helpers that need no bpf(): library names, time units."""

from __future__ import annotations

import glob

import pytest

from pybpf.trace.errors import TraceError
from pybpf.trace.parser import parse
from pybpf.trace.probes import _binary_path, expand


def test_library_names_resolve_to_real_elf_files() -> None:
    if not glob.glob("/usr/lib/*/libc.so.6") + glob.glob("/lib/*/libc.so.6") + glob.glob("/lib64/libc.so.6"):
        pytest.skip("no glibc here")
    for name in ("c", "libc"):
        path = _binary_path(name)
        assert path is not None and "libc" in path
        with open(path, "rb") as f:
            assert f.read(4) == b"\x7fELF"
    assert _binary_path("/bin/sh") is None  # paths are left to the kernel layer


@pytest.mark.parametrize("text, period, frequency", [
    ("interval:s:2", 2_000_000_000, 0), ("interval:ms:50", 50_000_000, 0), ("i:us:10", 10_000, 0),
    ("profile:hz:99", 0, 99), ("interval:1", 1_000_000_000, 0),
])
def test_interval_and_profile_units(text: str, period: int, frequency: int) -> None:
    ap = parse(text + " { }").probes[0].attach_points[0]
    (cp,) = expand(ap)
    assert (cp.period, cp.frequency) == (period, frequency)


@pytest.mark.parametrize("text, message", [
    ("interval:m:1", "invalid interval unit"), ("interval:s:0", "must be positive"),
    ("usdt:/bin/sh:probe", "No USDT probes matched: usdt:/bin/sh:probe"),
    ("watchpoint:0x1000:8:rwx", "invalid watchpoint mode"),
])
def test_bad_probes(text: str, message: str) -> None:
    ap = parse(text + " { }").probes[0].attach_points[0]
    with pytest.raises(TraceError, match=message):
        expand(ap)


def test_stack_text_indents_like_bpftrace() -> None:
    from pybpf.trace.output import key_text
    from pybpf.trace.symbols import Stack

    st = Stack(["f+1", "g+2"])
    assert key_text(st) == "\n    f+1\n    g+2\n"
    assert str(st) == "\n        f+1\n        g+2\n"
    assert key_text(("bash", st)) == "bash, \n    f+1\n    g+2\n"


def test_user_symbols_of_this_process() -> None:
    import ctypes
    import os

    from pybpf.trace.symbols import user_symbol

    libc = ctypes.CDLL(None)
    addr = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    assert addr is not None
    sym = user_symbol(addr, os.getpid())
    if sym is None:
        pytest.skip("libc has no symbol table entry for getpid here")
    assert sym[0] in ("getpid", "__getpid") and sym[1] == 0
    assert user_symbol(8, os.getpid()) is None


@pytest.mark.parametrize("decl, expected", [
    ("const char *const * argv", (8, False)), ("const char * filename", (1, True)), ("int * fds", (4, True)),
    ("unsigned long * addr", (8, False)), ("struct __kernel_timespec * rqtp", (0, False)),
    ("u32 * uaddr", (4, False)), ("int flags", (0, False)),
])
def test_pointee_of_tracepoint_declarations(decl: str, expected: tuple[int, bool]) -> None:
    from pybpf.trace.structs import pointee

    assert pointee(decl) == expected


@pytest.mark.parametrize("text, name, period, config", [
    ("software:faults:10", "software:faults:10", 10, 2), ("s:cs", "software:cs:1000", 1000, 3),
    ("hardware:cache-misses:5000", "hardware:cache-misses:5000", 5000, 3),
])
def test_software_and_hardware_events(text: str, name: str, period: int, config: int) -> None:
    ap = parse(text + " { }").probes[0].attach_points[0]
    (cp,) = expand(ap)
    assert (cp.name, cp.period, cp.frequency) == (name, period, config)
    with pytest.raises(TraceError, match="Invalid software event: nosuch"):
        expand(parse("software:nosuch:1 { }").probes[0].attach_points[0])


def test_fentry_arguments_from_btf() -> None:
    from pybpf.trace.probes import _fentry_fields
    from pybpf.trace.structs import kernel_btf

    if kernel_btf() is None:
        pytest.skip("no kernel BTF")
    fields = _fentry_fields("vfs_read")
    assert list(fields) == ["file", "buf", "count", "pos", "$retval"]
    assert fields["file"].kind == "ptr" and fields["file"].decl == "struct file *"
    assert fields["buf"].is_string and fields["count"].kind == "int" and not fields["count"].signed
    assert [f.offset for f in fields.values()] == [0, 8, 16, 24, 32]
