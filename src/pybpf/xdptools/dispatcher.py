"""`pybpf xdp load|unload|status`: several XDP programs on one interface, in priority order.

The dispatcher's state lives on bpffs under /sys/fs/bpf/pybpf-xdp/<interface>-<netns inode>/:
the entry program's link (`link`), the program array (`xdp_progs`) and the chain table
(`xdp_chain`, see pybpf.xdptools.chain). Any process can open them to list the programs or to
add and remove one; a file lock serialises such changes. Programs run by ascending priority
(ties: load order); a program's chain-call actions (default: pass) let the packet go on to
the next one, any other action is final; after the last program the packet passes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pybpf.errors import BpfError, LoadError
from pybpf.object.spec import CollectionSpec
from pybpf.xdptools.chain import (
    END,
    MAX_PROGRAMS,
    ROOT,
    SlotEntry,
    chain_mask,
    entry_spec,
    wrap,
)

PIN_ROOT = "/sys/fs/bpf/pybpf-xdp"
LOCK_DIR = "/run/lock"
DEFAULT_PRIORITY = 50


def netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def pin_dir(interface: str) -> str:
    return os.path.join(PIN_ROOT, f"{interface}-{netns_inode()}")


@contextlib.contextmanager
def _locked(interface: str) -> Iterator[None]:
    os.makedirs(LOCK_DIR, exist_ok=True)
    path = os.path.join(LOCK_DIR, f"pybpf-xdp-{interface}-{netns_inode()}.lock")
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Loaded:
    """A program in the dispatcher's chain."""

    slot: int
    entry: SlotEntry

    def as_dict(self) -> dict[str, Any]:
        e = self.entry
        return {"position": 0, "slot": self.slot, "name": e.name, "priority": e.priority,
                "id": e.prog_id, "chain_actions": e.chain_actions}


class Dispatcher:
    """The dispatcher of one interface (in the calling thread's network namespace)."""

    def __init__(self, interface: str) -> None:
        from pybpf.kernel.links import ifindex

        self.ifindex = ifindex(interface)
        self.interface = interface
        self.path = pin_dir(interface)

    # --- pinned objects ----------------------------------------------------------------
    @property
    def exists(self) -> bool:
        return os.path.exists(os.path.join(self.path, "link"))

    def _map(self, name: str) -> Any:
        from pybpf.kernel.maps import KernelMap

        return KernelMap.open(os.path.join(self.path, name))

    def entries(self) -> dict[int, SlotEntry]:
        if not self.exists:
            return {}
        chain = self._map("xdp_chain")
        try:
            return {i: SlotEntry.unpack(bytes(chain[i])) for i in range(MAX_PROGRAMS + 1)}
        finally:
            chain.close()

    def programs(self) -> list[Loaded]:
        """The loaded programs in the order packets meet them."""
        entries = self.entries()
        out: list[Loaded] = []
        if not entries:
            return out
        index = entries[ROOT].next
        while index != END and index < MAX_PROGRAMS and len(out) < MAX_PROGRAMS:
            out.append(Loaded(index, entries[index]))
            index = entries[index].next
        return out

    def link_info(self) -> Any:
        from pybpf.kernel.info import link_info
        from pybpf.kernel.pin import get_object

        fd = get_object(os.path.join(self.path, "link"))
        try:
            return link_info(fd.fd)
        finally:
            fd.close()

    # --- changes -------------------------------------------------------------------------
    def _create(self, mode: str) -> None:
        from pybpf.kernel.kernel_engine import load_collection
        from pybpf.kernel.links import attach_xdp
        from pybpf.kernel.pin import ensure_bpffs

        ensure_bpffs("/sys/fs/bpf")
        os.makedirs(self.path, exist_ok=True)
        with load_collection(entry_spec(), pin_path=self.path) as coll:
            entry: Any = coll.programs["xdp_dispatcher"]
            link = attach_xdp(entry, self.ifindex, mode=mode)
            try:
                link.pin(os.path.join(self.path, "link"))
            finally:
                link.close()

    def load(self, spec: CollectionSpec, program: str | None = None, *, priority: int = DEFAULT_PRIORITY,
             chain_actions: list[str] | None = None, mode: str = "") -> Loaded:
        """Add a program of `spec` to the chain (creating the dispatcher on first use)."""
        from pybpf.kernel.info import prog_info
        from pybpf.kernel.kernel_engine import load_collection

        name = _pick(spec, program)
        mask = chain_mask(chain_actions if chain_actions is not None else ["pass"])
        with _locked(self.interface):
            self._check_stale()
            if not self.exists:
                self._create(mode)
            entries = self.entries()
            free = [i for i in range(MAX_PROGRAMS) if not entries[i].in_use]
            if not free:
                raise LoadError(f"{self.interface} already runs {MAX_PROGRAMS} XDP programs")
            slot = free[0]
            wrapped = wrap(spec.programs[name], dict(spec.maps), slot)
            order = 1 + max((e.order for e in entries.values() if e.in_use), default=0)
            with load_collection(wrapped, pin_path=self.path) as coll:
                prog: Any = coll.programs[name]
                entry = SlotEntry(END, mask, True, prog_info(prog.fd).id, priority, name, order)
                chain = coll.maps["xdp_chain"]
                chain[slot] = entry.pack()
                coll.maps["xdp_progs"][slot] = prog.fd
            entries[slot] = entry
            self._relink(entries)
            return Loaded(slot, entry)

    def unload(self, *, prog_id: int | None = None, name: str | None = None,
               everything: bool = False) -> list[Loaded]:
        """Remove programs (by id, by name, or all); the dispatcher goes with the last one."""
        with _locked(self.interface):
            if not self.exists:
                raise BpfError(f"no pybpf XDP dispatcher on {self.interface}")
            loaded = self.programs()
            gone = [p for p in loaded if everything or p.entry.prog_id == prog_id
                    or (name is not None and p.entry.name == name)]
            if not gone:
                what = f"id {prog_id}" if prog_id is not None else f"name {name!r}"
                raise BpfError(f"no program with {what} on {self.interface}")
            entries = self.entries()
            for p in gone:
                entries[p.slot] = SlotEntry()
            self._relink(entries)
            progs = self._map("xdp_progs")
            chain = self._map("xdp_chain")
            try:
                for p in gone:
                    with contextlib.suppress(BpfError):
                        del progs[p.slot]
                    chain[p.slot] = SlotEntry().pack()
            finally:
                progs.close()
                chain.close()
            if not any(e.in_use for i, e in entries.items() if i != ROOT):
                self._destroy()
            return gone

    def _relink(self, entries: dict[int, SlotEntry]) -> None:
        """Write the `next` pointers for priority order, tail first, the head last."""
        import dataclasses

        used = sorted((i for i in range(MAX_PROGRAMS) if entries[i].in_use),
                      key=lambda i: (entries[i].priority, entries[i].order))
        chain = self._map("xdp_chain")
        try:
            following = END
            for index in reversed(used):
                entries[index] = dataclasses.replace(entries[index], next=following)
                chain[index] = entries[index].pack()
                following = index
            entries[ROOT] = SlotEntry(next=following)
            chain[ROOT] = entries[ROOT].pack()
        finally:
            chain.close()

    def _destroy(self) -> None:
        if os.path.isdir(self.path):
            for entry in os.listdir(self.path):
                os.unlink(os.path.join(self.path, entry))  # the link detaches with its last pin
            os.rmdir(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(PIN_ROOT)  # only when no other interface has a dispatcher

    def _check_stale(self) -> None:
        """Forget a dispatcher whose interface went away (its link no longer has one)."""
        if self.exists:
            info = self.link_info()
            if not info.extra or info.extra[0] & 0xFFFFFFFF != self.ifindex:
                self._destroy()


def _pick(spec: CollectionSpec, name: str | None) -> str:
    from pybpf.abi import ProgramType

    xdp = [n for n, p in spec.programs.items() if p.type == ProgramType.XDP]
    if name is not None:
        if name not in spec.programs:
            raise LoadError(f"no program {name!r} (programs: {', '.join(spec.programs) or 'none'})")
        return name
    if len(xdp) == 1:
        return xdp[0]
    if not xdp:
        raise LoadError("the object has no XDP program")
    raise LoadError(f"several XDP programs, choose one with --program: {', '.join(xdp)}")
