"""Turn the sampler's counts (stack ids, code objects) into symbolised stacks, snapshotting processes as they run."""

from __future__ import annotations

import os

from pybpf.profile import elfsyms, procmaps
from pybpf.profile.kallsyms import kernel_symbols
from pybpf.profile.model import Frame, MappingInfo, Sample
from pybpf.profile.python import CodeNames, PerfMap, PythonProcess
from pybpf.profile.sampler import StackKey

EVAL_FRAME = "_PyEval_EvalFrameDefault"


class Symbolizer:
    """Per-process snapshots (maps, perf maps, code names) and the stack -> frames translation."""

    def __init__(self) -> None:
        self.processes: dict[int, procmaps.Process] = {}
        self.perf_maps: dict[int, PerfMap | None] = {}
        self.code_names: dict[int, CodeNames] = {}
        self._images: dict[tuple[int, procmaps.Mapping], tuple[elfsyms.SymbolTable | None, MappingInfo, str]] = {}

    # -- while the profiled processes run --------------------------------------------------

    def observe(self, pid: int) -> procmaps.Process | None:
        """Snapshot `pid` the first time it is seen (its mappings must be read while it lives)."""
        if pid not in self.processes:
            proc = procmaps.snapshot(pid)
            if proc is None:
                return None
            self.processes[pid] = proc
        return self.processes[pid]

    def refresh(self, pid: int) -> None:
        """Re-read a process's mappings and perf map (libraries loaded, code JIT-compiled meanwhile).

        Mappings seen before and since unmapped are kept where nothing new overlaps them, so a
        library a sample ran in can still be named after it was unloaded.
        """
        proc = procmaps.snapshot(pid)
        if proc is not None:
            old = self.processes.get(pid)
            if old is not None:
                proc.merge(old)
            self.processes[pid] = proc
        self.perf_maps[pid] = PerfMap.of(pid)

    def add_python(self, py: PythonProcess) -> None:
        self.code_names.setdefault(py.pid, CodeNames(py.pid, py.layout))

    def name_code(self, pid: int, code: int) -> None:
        """Read a code object's name now, while the process lives."""
        names = self.code_names.get(pid)
        if names is not None:
            names.name(code)

    # -- afterwards --------------------------------------------------------------------------

    def kernel_frame(self, ip: int) -> Frame:
        name, module = kernel_symbols().lookup(ip)
        return Frame(name, module or "vmlinux", "kernel", ip)

    def user_frame(self, proc: procmaps.Process | None, ip: int, leaf: bool) -> Frame:
        lookup = ip if leaf else ip - 1  # a return address points after the call
        mapping = proc.mapping_at(lookup) if proc else None
        if mapping is None or not mapping.is_file:
            perf_map = self.perf_maps.get(proc.pid) if proc else None
            if proc and proc.pid not in self.perf_maps:
                perf_map = self.perf_maps[proc.pid] = PerfMap.of(proc.pid)
            name = perf_map.lookup(lookup) if perf_map else None
            if name:
                return Frame(name, "[jit]", "python" if ":" in name else "user", ip)
            return Frame("[unknown]", mapping.path if mapping and mapping.path else "[anon]", "user", ip)
        assert proc is not None
        file_offset = lookup - mapping.start + mapping.offset
        table, info, module = self._image(proc, mapping)
        vaddr = table.offset_to_vaddr(file_offset) if table else None
        name = table.lookup(vaddr) if table and vaddr is not None else None
        return Frame(name or "[unknown]", module, "user", ip, info)

    def _image(self, proc: procmaps.Process, mapping: procmaps.Mapping
               ) -> tuple[elfsyms.SymbolTable | None, MappingInfo, str]:
        """The symbol table, pprof mapping and module name of a process's mapping (cached)."""
        key = (proc.pid, mapping)
        if key not in self._images:
            table = elfsyms.load(proc.file_path(mapping))
            info = MappingInfo(mapping.start, mapping.end, mapping.offset, mapping.path,
                               table.build_id if table else "")
            self._images[key] = table, info, os.path.basename(mapping.path)
        return self._images[key]

    def python_segments(self, pid: int, codes: tuple[int, ...]) -> list[list[Frame]]:
        """The Python frames grouped by interpreter entry, innermost group first, each root first."""
        names = self.code_names.get(pid)
        segments: list[list[Frame]] = [[]]
        for code in codes:
            name = (names.name(code) if names else None) or "[unknown python frame]"
            module = name.partition(":")[0]
            segments[-1].insert(0, Frame(name, module, "python", code & ~1))
            if code & 1:
                segments.append([])
        return [s for s in segments if s]

    def sample(self, key: StackKey, user_ips: tuple[int, ...], kernel_ips: tuple[int, ...], count: int) -> Sample:
        proc = self.processes.get(key.pid)
        user = [self.user_frame(proc, ip, i == 0) for i, ip in enumerate(user_ips)][::-1]
        if key.py_frames:
            user = merge_python(user, self.python_segments(key.pid, key.py_frames))
        kernel = [self.kernel_frame(ip) for ip in kernel_ips][::-1]
        comm = proc.comm if proc else str(key.pid)
        return Sample(key.pid, comm, tuple(user + kernel), count)


def merge_python(native: list[Frame], segments: list[list[Frame]]) -> list[Frame]:
    """Put each group of Python frames in place of the _PyEval_EvalFrameDefault frame that runs it.

    `native` is root first; `segments` innermost first. When the native stack has fewer evaluator
    frames than there are groups, the frame-pointer walk went astray (an interpreter built without
    frame pointers; or a return address in no file): then only the native frames from the leaf down to the first unknown one are
    trusted, and they go above all the Python frames.
    """
    evals = [i for i, f in enumerate(native) if f.name == EVAL_FRAME]
    astray = any(f.name == "[unknown]" and f.mapping is None for f in native)  # not in any file: garbage
    if astray or len(evals) < len(segments):
        leaf: list[Frame] = []
        for f in reversed(native):
            if f.name == "[unknown]":
                break
            leaf.insert(0, f)
        python_frames = [f for segment in reversed(segments) for f in segment]
        return python_frames + [f for f in leaf if f.name != EVAL_FRAME]
    out = list(native)
    for index, segment in zip(reversed(evals), segments, strict=False):  # innermost first: indexes stay valid
        out[index:index + 1] = segment
    return out
