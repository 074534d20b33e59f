"""The balancer on a real interface: load with pinned maps, attach XDP, update and read them later.

`pybpf lb run` pins every map under /sys/fs/bpf/pybpf-lb-<interface>/ so that `pybpf lb update`
and `pybpf lb stats`, in other processes, open the same maps by path and change or read them
while packets flow. The pins go away when the balancer stops.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from pybpf.errors import BpfError
from pybpf.lb.config import LbConfig
from pybpf.lb.control import Applied, Balancer
from pybpf.lb.program import PROGRAM, collection_spec

PIN_ROOT = "/sys/fs/bpf"
PIN_PREFIX = "pybpf-lb-"
MODES = {"native": "native", "skb": "skb"}


def pin_dir(interface: str) -> str:
    return os.path.join(PIN_ROOT, PIN_PREFIX + interface)


def find_pin_dir(interface: str | None) -> str:
    """The pin directory of the balancer on `interface`, or of the only one running."""
    if interface:
        path = pin_dir(interface)
        if not os.path.isdir(path):
            raise BpfError(f"no balancer runs on {interface} ({path} does not exist)")
        return path
    found = sorted(glob.glob(os.path.join(PIN_ROOT, PIN_PREFIX + "*")))
    if not found:
        raise BpfError(f"no balancer is running (nothing under {PIN_ROOT}/{PIN_PREFIX}*)")
    if len(found) > 1:
        names = ", ".join(os.path.basename(p)[len(PIN_PREFIX):] for p in found)
        raise BpfError(f"several balancers run ({names}): choose one with --interface")
    return found[0]


def open_pinned(interface: str | None = None) -> dict[str, Any]:
    """The running balancer's maps, opened from their pins."""
    from pybpf.kernel.maps import KernelMap

    path = find_pin_dir(interface)
    maps: dict[str, Any] = {}
    for entry in sorted(os.listdir(path)):
        try:
            maps[entry] = KernelMap.open(os.path.join(path, entry))
        except BpfError as exc:
            raise BpfError(f"cannot open pinned map {entry} in {path}: {exc}") from None
    return maps


def _close(maps: dict[str, Any]) -> None:
    for m in maps.values():
        m.close()


def update(config: LbConfig, interface: str | None = None) -> Applied:
    """Apply a new configuration to the running balancer (established flows stay put)."""
    maps = open_pinned(interface)
    try:
        return Balancer(maps).apply(config)
    finally:
        _close(maps)


def stats(interface: str | None = None) -> dict[str, Any]:
    """The running balancer's counters."""
    maps = open_pinned(interface)
    try:
        return Balancer(maps).stats()
    finally:
        _close(maps)


class LiveBalancer:
    """The balancer loaded into the kernel with pinned maps and attached to an interface."""

    def __init__(self, config: LbConfig, interface: str, *, mode: str = "native") -> None:
        if mode not in MODES:
            raise BpfError(f"unknown XDP mode {mode!r} (native or skb)")
        self.config = config
        self.interface = interface
        self.mode = mode
        self.path = pin_dir(interface)
        self.collection: Any = None
        self.link: Any = None
        self.balancer: Balancer | None = None

    def start(self) -> Applied:
        from pybpf.kernel.engine import load_collection
        from pybpf.kernel.links import attach_xdp, ifindex
        from pybpf.kernel.pin import ensure_bpffs

        ifindex(self.interface)  # a clear error for an unknown interface, before loading
        if os.path.isdir(self.path) and os.listdir(self.path):
            raise BpfError(f"a balancer already runs on {self.interface} ({self.path} exists; "
                           "remove it if that balancer was killed)")
        ensure_bpffs(PIN_ROOT)
        os.makedirs(self.path, exist_ok=True)
        try:
            spec = collection_spec(self.config, pinned=True)
            self.collection = load_collection(spec, pin_path=self.path)
            self.balancer = Balancer(self.collection.maps)
            applied = self.balancer.apply(self.config)
            self.link = attach_xdp(self.collection.programs[PROGRAM], self.interface,
                                   mode=MODES[self.mode])
        except BaseException:
            self.close()
            raise
        return applied

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.collection is not None:
            self.collection.close()
            self.collection = None
        if os.path.isdir(self.path):
            for entry in os.listdir(self.path):
                os.unlink(os.path.join(self.path, entry))
            os.rmdir(self.path)

    def __enter__(self) -> LiveBalancer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
