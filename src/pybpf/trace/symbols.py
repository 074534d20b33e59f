"""Symbolization for kstack/ustack/ksym/usym: /proc/kallsyms, /proc/PID/maps and ELF symbol tables."""

from __future__ import annotations

import bisect
import functools
from typing import Any

from pybpf.errors import BpfError

MAX_STACK = 127  # frames per stack, like bpftrace (perf_event_max_stack)


class Stack(tuple[str, ...]):
    """Symbolized frames; printed one per line, indented like bpftrace (4 in keys, 8 in values)."""

    def text(self, indent: int = 8) -> str:
        return "\n" + "".join(" " * indent + f + "\n" for f in self)

    def __str__(self) -> str:
        return self.text(8)


@functools.cache
def kallsyms() -> tuple[list[int], list[str]]:
    """Sorted kernel text symbol addresses and names (empty when /proc/kallsyms hides them)."""
    pairs = []
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] in "tTwW":
                    addr = int(parts[0], 16)
                    if addr:
                        pairs.append((addr, parts[2]))
    except OSError:
        pass
    pairs.sort()
    return [a for a, _ in pairs], [n for _, n in pairs]


def kernel_address(name: str) -> int | None:
    """The address of kernel symbol `name` (text or data) from /proc/kallsyms."""
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == name:
                    return int(parts[0], 16) or None
    except OSError:
        pass
    return None


@functools.cache
def kernel_enums() -> dict[str, int]:
    """Every enumerator of the kernel's BTF by name (e.g. BPF_MAP_TYPE_HASH)."""
    from pybpf.btf.types import Kind
    from pybpf.trace.structs import kernel_btf

    btf = kernel_btf()
    out: dict[str, int] = {}
    if btf is None:
        return out
    for t in btf:
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            for v in t.values:
                out.setdefault(v.name, v.value)
    return out


def kernel_symbol(addr: int) -> tuple[str, int] | None:
    addrs, names = kallsyms()
    i = bisect.bisect_right(addrs, addr) - 1
    if i < 0 or addr - addrs[i] > 1 << 20:
        return None
    return names[i], addr - addrs[i]


@functools.cache
def _elf_symbols(path: str) -> tuple[list[int], list[tuple[str, int]], list[tuple[int, int, int, int]]]:
    from pybpf.kernel.uprobe import STT_FUNC, STT_GNU_IFUNC, defined_symbols, open_elf

    try:
        elf = open_elf(path)
        syms = sorted((s.value, s.name.split("@")[0], s.size) for s in defined_symbols(elf)
                      if s.type in (STT_FUNC, STT_GNU_IFUNC) and s.value)
        segments = elf.load_segments()
    except (BpfError, OSError):
        return [], [], []
    return [a for a, _, _ in syms], [(n, size) for _, n, size in syms], segments


def _maps(pid: int) -> list[tuple[int, int, int, str]]:
    out = []
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    out.append((lo, hi, int(parts[2], 16), parts[5].strip()))
    except OSError:
        pass
    return out


def user_symbol(addr: int, pid: int, maps: list[tuple[int, int, int, str]] | None = None) -> tuple[str, int] | None:
    for lo, hi, pgoff, path in maps if maps is not None else _maps(pid):
        if lo <= addr < hi:
            addrs, syms, segments = _elf_symbols(path)
            file_off = addr - lo + pgoff
            vaddr = None
            for seg_vaddr, memsz, seg_off, filesz in segments:
                if seg_off <= file_off < seg_off + max(filesz, memsz):
                    vaddr = file_off - seg_off + seg_vaddr
                    break
            if vaddr is None:
                return None
            i = bisect.bisect_right(addrs, vaddr) - 1
            if i < 0:
                return None
            name, size = syms[i]
            if size and vaddr >= addrs[i] + size:
                return None
            return name, vaddr - addrs[i]
    return None


class Symbolizer:
    """Turns stack ids and addresses recorded by the programs into text, like bpftrace prints them."""

    def __init__(self, stack_map: Any = None) -> None:
        self.stack_map = stack_map
        self._remembered: dict[int, list[tuple[int, int, int, str]]] = {}

    def remember(self, pid: int) -> None:
        """Keep the memory map of `pid` so its addresses resolve after it exits (the -c command)."""
        maps = _maps(pid)
        if maps:
            self._remembered[pid] = maps

    def maps(self, pid: int) -> list[tuple[int, int, int, str]]:
        return _maps(pid) or self._remembered.get(pid, [])

    def _frames(self, stack_id: int) -> list[int]:
        if self.stack_map is None or stack_id < 0:
            return []
        try:
            raw = self.stack_map.lookup(stack_id.to_bytes(4, "little"))
        except BpfError:
            return []
        if not isinstance(raw, bytes):
            return []
        ips = [int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw), 8)]
        return ips[:ips.index(0)] if 0 in ips else ips

    def kstack(self, stack_id: int, limit: int = 0) -> Stack:
        frames = []
        for ip in self._frames(stack_id)[:limit or None]:
            sym = kernel_symbol(ip)
            frames.append(f"{sym[0]}+{sym[1]}" if sym else f"0x{ip:x}")
        return Stack(frames)

    def ustack(self, stack_id: int, pid: int, limit: int = 0) -> Stack:
        maps = self.maps(pid)
        frames = []
        for ip in self._frames(stack_id)[:limit or None]:
            sym = user_symbol(ip, pid, maps)
            frames.append(f"{sym[0]}+{sym[1]}" if sym else f"0x{ip:x}")
        return Stack(frames)

    def ksym(self, addr: int) -> str:
        sym = kernel_symbol(addr)
        return sym[0] if sym else (f"0x{addr:x}" if addr else "0")

    def usym(self, addr: int, pid: int) -> str:
        sym = user_symbol(addr, pid, self.maps(pid))
        return sym[0] if sym else (f"0x{addr:x}" if addr else "0")


SYSCALL_HEADERS = ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h")


@functools.cache
def syscall_names() -> dict[int, str]:
    """x86-64 system call numbers to names, from the kernel's uapi header when installed (else empty)."""
    import re

    out: dict[int, str] = {}
    for path in SYSCALL_HEADERS:
        try:
            with open(path) as f:
                for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", f.read()):
                    out[int(m.group(2))] = m.group(1)
        except OSError:
            continue
        if out:
            break
    return out


def syscall_name(nr: int) -> str:
    """syscall_name(): the name of system call `nr` (its number when unknown)."""
    return syscall_names().get(nr, str(nr))


def cgroup_path(cgroup_id: int, root: str = "/sys/fs/cgroup") -> str:
    """cgroup_path(): the cgroup v2 path whose directory inode is `cgroup_id` ("/" for the root)."""
    import os

    try:
        if os.stat(root).st_ino == cgroup_id:
            return "/"
    except OSError:
        return str(cgroup_id)
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            full = os.path.join(dirpath, d)
            try:
                if os.stat(full).st_ino == cgroup_id:
                    return "/" + os.path.relpath(full, root)
            except OSError:
                continue
    return str(cgroup_id)


@functools.cache
def user_name(uid: int) -> str:
    """username: the login name of `uid` (getpwuid), its number where the user database has none."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
