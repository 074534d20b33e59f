"""USDT probes of a binary as uprobes see them: each note of `.note.stapsdt` with the file offsets of its
probe point and semaphore (where a uprobe and its reference counter go), read by the one note parser
`pybpf.object.stapsdt`."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from pybpf.errors import LoadError
from pybpf.kernel.uprobe import address_to_offset, open_elf
from pybpf.object.elf import ElfFile
from pybpf.object.stapsdt import UsdtArg, UsdtNote, read_notes

ET_EXEC = 2
ET_DYN = 3


@dataclass(frozen=True)
class UsdtProbe:
    """A probe point: its file offset, its semaphore's file offset (0 if none), its argument specs."""

    provider: str
    name: str
    offset: int
    semaphore: int
    args: tuple[UsdtArg, ...]
    address: int = 0  # the probe's virtual address as linked
    semaphore_address: int = 0  # the semaphore's virtual address as linked (0 if none)
    arg_text: str = ""
    arg_error: str = ""

    def checked_args(self) -> tuple[UsdtArg, ...]:
        """The arguments; LoadError when the note's argument string is not one pybpf can read."""
        if self.arg_error:
            raise LoadError(f"USDT probe {self.provider}:{self.name}: {self.arg_error}")
        return self.args


def semaphore_offset(elf: ElfFile, address: int) -> int:
    """The file offset of a semaphore's address (in a PT_LOAD segment; .probes or .data)."""
    for vaddr, memsz, off, _filesz in elf.load_segments():
        if vaddr <= address < vaddr + memsz:
            return address - vaddr + off
    raise LoadError(f"{elf.name}: USDT semaphore address {address:#x} is in no loadable segment")


def _probe(elf: ElfFile, note: UsdtNote) -> UsdtProbe:
    return UsdtProbe(note.provider, note.name, address_to_offset(elf, note.address),
                     semaphore_offset(elf, note.semaphore) if note.semaphore else 0, note.args,
                     note.address, note.semaphore, note.arg_text, note.arg_error)


def read_probes(path: str) -> list[UsdtProbe]:
    """Every USDT probe declared in the ELF file `path` (an empty list when it declares none)."""
    elf = open_elf(path)
    return [_probe(elf, n) for n in read_notes(elf)]


def find_probes(path: str, provider: str, name: str) -> list[UsdtProbe]:
    """Probes of `path` matching provider and name (fnmatch wildcards; provider "" or "*" matches any)."""
    return [p for p in read_probes(path)
            if (not provider or fnmatch.fnmatchcase(p.provider, provider)) and fnmatch.fnmatchcase(p.name, name)]


def is_shared_object(path: str) -> bool:
    """True for ET_DYN files (shared libraries and position-independent executables)."""
    return open_elf(path).e_type == ET_DYN


def runtime_address(pid: int, path: str, address: int) -> int:
    """Where the virtual address `address` of `path` (as linked) is in process `pid`: the file's lowest
    mapping in /proc/PID/maps less its first loadable segment's page gives the load bias."""
    import os

    real = os.path.realpath(path)
    try:
        with open(f"/proc/{pid}/maps") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise LoadError(f"cannot read the mappings of process {pid}: {exc.strerror}") from None
    starts = [int(parts[0].split("-")[0], 16) for parts in (line.split(maxsplit=5) for line in lines)
              if len(parts) == 6 and parts[5] == real]
    if not starts:
        raise LoadError(f"{real} is not mapped in process {pid}")
    segments = open_elf(path).load_segments()
    first = min((vaddr for vaddr, *_ in segments), default=0) & ~0xFFF
    return min(starts) - first + address
