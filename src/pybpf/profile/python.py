"""Python frames: find CPython 3.11's thread state in a process for the eBPF frame walk, name code objects.

The sampler walks `_PyRuntime.gilstate.tstate_current -> cframe -> current_frame -> previous ...` and
records code object addresses; here user space finds `_PyRuntime` in the process (the interpreter
binary or libpython, through its dynamic symbols and load address), checks `Py_Version`, and turns
code objects into `module:function` by reading /proc/PID/mem. CPython >= 3.12 started with `-X perf`
names its trampolines in /tmp/perf-PID.map instead (read by `perf_map`).
"""

from __future__ import annotations

import bisect
import os
import re
import struct
from dataclasses import dataclass

from pybpf.profile.procmaps import Process

_INTERPRETER = re.compile(r"(^|/)(lib)?python3\.\d+[^/]*$")


@dataclass(frozen=True)
class CPythonLayout:
    """Field offsets of one CPython minor version (x86-64 and arm64 release builds agree)."""

    runtime_tstate_current: int  # _PyRuntime.gilstate.tstate_current
    tstate_native_tid: int  # PyThreadState.native_thread_id
    tstate_cframe: int  # PyThreadState.cframe
    cframe_current_frame: int  # _PyCFrame.current_frame
    frame_code: int  # _PyInterpreterFrame.f_code
    frame_previous: int  # _PyInterpreterFrame.previous
    frame_is_entry: int  # _PyInterpreterFrame.is_entry
    code_filename: int  # PyCodeObject.co_filename
    code_qualname: int  # PyCodeObject.co_qualname
    unicode_length: int = 16  # PyASCIIObject.length
    unicode_state: int = 32  # PyASCIIObject.state (interned:2 kind:3 compact:1 ascii:1)
    ascii_data: int = 48  # sizeof(PyASCIIObject): the characters of a compact ASCII string
    compact_data: int = 72  # sizeof(PyCompactUnicodeObject): those of a compact non-ASCII string

    def pack(self, tstate_current: int) -> bytes:
        """struct python_proc of profile.bpf.c for a process whose tstate_current is at that address."""
        return struct.pack("<QIIIIII", tstate_current, self.tstate_native_tid, self.tstate_cframe,
                           self.cframe_current_frame, self.frame_code, self.frame_previous, self.frame_is_entry)


# CPython 3.11's structures (Include/internal/pycore_runtime.h, pycore_frame.h, cpython/pystate.h, code.h)
LAYOUTS: dict[tuple[int, int], CPythonLayout] = {
    (3, 11): CPythonLayout(runtime_tstate_current=576, tstate_native_tid=160, tstate_cframe=56,
                           cframe_current_frame=8, frame_code=32, frame_previous=48, frame_is_entry=68,
                           code_filename=112, code_qualname=128),
}


@dataclass(frozen=True)
class PythonProcess:
    """A CPython process the sampler can walk: its version, layout and where tstate_current lives."""

    pid: int
    version: tuple[int, int]
    layout: CPythonLayout
    tstate_current: int


def read_memory(pid: int, address: int, size: int) -> bytes:
    """`size` bytes of process `pid` at `address` (short or empty when unmapped or the process is gone)."""
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.pread(fd, size, address) if 0 < address < 1 << 63 else b""
    except (OSError, OverflowError):
        return b""
    finally:
        os.close(fd)


_image_symbols: dict[tuple[int, int, int], tuple[dict[str, int], list[tuple[int, int, int, int]]]] = {}


def _image(path: str) -> tuple[dict[str, int], list[tuple[int, int, int, int]]]:
    """(interpreter dynamic symbols wanted, PT_LOAD segments) of an image, cached per file."""
    from pybpf.errors import ObjectError
    from pybpf.profile.elfsyms import _open

    try:
        st = os.stat(path)
    except OSError:
        return {}, []
    key = (st.st_dev, st.st_ino, st.st_mtime_ns)
    if key not in _image_symbols:
        try:
            elf = _open(path)
            wanted = {"Py_Version", "_PyRuntime"}
            symbols = {s.name: s.value for s in elf.dynamic_symbols if s.name in wanted and s.shndx}
            _image_symbols[key] = symbols, elf.load_segments()
        except (OSError, ValueError, ObjectError):
            _image_symbols[key] = {}, []
    return _image_symbols[key]


def _dynamic_addresses(proc: Process, path: str) -> dict[str, int]:
    """Run-time addresses of the interpreter's dynamic symbols in the image `path` mapped in `proc`."""
    base = proc.first_mapping(path)
    if base is None:
        return {}
    symbols, segments = _image(proc.file_path(base))
    for vaddr, memsz, off, filesz in segments:
        if off <= base.offset < off + max(filesz, memsz):
            bias = base.start - (base.offset - off + vaddr)
            return {name: value + bias for name, value in symbols.items()}
    return {}


def detect(proc: Process) -> PythonProcess | None:
    """The CPython interpreter in `proc` when it is a version whose frames the sampler can walk."""
    for path in dict.fromkeys(m.path for m in proc.mappings if m.is_file and _INTERPRETER.search(m.path)):
        found = _dynamic_addresses(proc, path)
        if len(found) < 2:
            continue
        version_at, runtime = found["Py_Version"], found["_PyRuntime"]
        raw = read_memory(proc.pid, version_at, 4)
        if len(raw) < 4:
            continue
        hexversion = int.from_bytes(raw, "little")
        version = (hexversion >> 24, (hexversion >> 16) & 0xFF)
        layout = LAYOUTS.get(version)
        if layout is not None:
            return PythonProcess(proc.pid, version, layout, runtime + layout.runtime_tstate_current)
    return None


class CodeNames:
    """`module:function` of code objects of one process, read from its memory and cached."""

    def __init__(self, pid: int, layout: CPythonLayout) -> None:
        self.pid, self.layout = pid, layout
        self.names: dict[int, str] = {}

    def _string(self, address: int) -> str | None:
        lay = self.layout
        head = read_memory(self.pid, address, lay.ascii_data)
        if len(head) < lay.ascii_data:
            return None
        length = int.from_bytes(head[lay.unicode_length:lay.unicode_length + 8], "little")
        state = int.from_bytes(head[lay.unicode_state:lay.unicode_state + 4], "little")
        kind, compact, ascii_ = (state >> 2) & 7, (state >> 5) & 1, (state >> 6) & 1
        if not compact or not 0 < length <= 4096 or kind not in (1, 2, 4):
            return None
        data = read_memory(self.pid, address + (lay.ascii_data if ascii_ else lay.compact_data), length * kind)
        codec = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind]
        return data.decode(codec, "replace") if len(data) == length * kind else None

    def name(self, code: int) -> str | None:
        """The name of code object `code` (None when it cannot be read: the process is gone)."""
        code &= ~1
        if code in self.names:
            return self.names[code]
        lay = self.layout
        raw = read_memory(self.pid, code, lay.code_qualname + 8)
        if len(raw) < lay.code_qualname + 8:
            return None
        filename = self._string(int.from_bytes(raw[lay.code_filename:lay.code_filename + 8], "little"))
        qualname = self._string(int.from_bytes(raw[lay.code_qualname:lay.code_qualname + 8], "little"))
        if qualname is None:
            return None
        name = f"{module_name(filename or '')}:{qualname}"
        self.names[code] = name
        return name


def module_name(filename: str) -> str:
    """`pkg/mod.py` -> `mod`, `<frozen runpy>` -> `runpy`, "" -> `?`."""
    if filename.startswith("<") and filename.endswith(">"):
        return filename[1:-1].split()[-1] if filename[1:-1].split() else filename
    base = os.path.basename(filename)
    return os.path.splitext(base)[0] or "?"


class PerfMap:
    """The /tmp/perf-PID.map of a process (JIT and CPython >= 3.12 `-X perf` trampolines), sorted."""

    def __init__(self, text: str) -> None:
        rows = []
        for line in text.splitlines():
            parts = line.split(None, 2)
            if len(parts) < 3:
                continue
            try:
                rows.append((int(parts[0], 16), int(parts[1], 16), _perf_map_name(parts[2].strip())))
            except ValueError:
                continue
        rows.sort()
        self.starts = [r[0] for r in rows]
        self.rows = rows

    @classmethod
    def of(cls, pid: int) -> PerfMap | None:
        for path in (f"/proc/{pid}/root/tmp/perf-{pid}.map", f"/tmp/perf-{pid}.map"):
            try:
                with open(path) as f:
                    return cls(f.read())
            except OSError:
                continue
        return None

    def lookup(self, address: int) -> str | None:
        i = bisect.bisect_right(self.starts, address) - 1
        if i >= 0 and address < self.rows[i][0] + self.rows[i][1]:
            return self.rows[i][2]
        return None


def _perf_map_name(name: str) -> str:
    """CPython's `py::qualname:/path/mod.py` -> `mod:qualname`; other JITs' names unchanged."""
    if name.startswith("py::"):
        qualname, _, filename = name[4:].rpartition(":")
        if qualname:
            return f"{module_name(filename)}:{qualname}"
    return name
