"""USDT links as libbpf makes them: one uprobe-multi link for all of a probe's sites where the kernel has
them (else one uprobe per site), each site with its spec id as the BPF cookie,
the sites' argument specs written into the collection's `__bpf_usdt_specs` map (and, on kernels
without cookies, their addresses into `__bpf_usdt_ip_to_spec_id`), semaphores counted by the kernel
(ref_ctr_offset) or, where it cannot, incremented in the traced process's memory.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from typing import Any

from pybpf.abi import AttachType, ProgramType
from pybpf.btf.types import Kind
from pybpf.errors import LoadError, MapError
from pybpf.kernel.link.base import Link, MultiLink, ProgLike, expect_type
from pybpf.kernel.link.uprobe import attach_uprobe
from pybpf.kernel.link.uprobe_multi import attach_uprobe_multi
from pybpf.kernel.usdt import UsdtProbe, is_shared_object, read_probes, runtime_address
from pybpf.kernel.usdt_spec import SpecLayout, encode_spec, layout_from_btf

SPECS_MAP = "__bpf_usdt_specs"
IP_MAP = "__bpf_usdt_ip_to_spec_id"
_REF_CTR_FORMAT = "/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset"


def ref_ctr_supported() -> bool:
    """Whether the uprobe PMU increments USDT semaphores itself (format/ref_ctr_offset, Linux 4.20+)."""
    return os.path.exists(_REF_CTR_FORMAT)


def kconfig_flag(spec: Any, name: str) -> bool | None:
    """The value the loader gave an `extern ... __kconfig` bool of the collection (None if it has none)."""
    btf = getattr(spec, "btf", None)
    kmap = getattr(spec, "maps", {}).get(".kconfig")
    if btf is None or kmap is None or not kmap.contents:
        return None
    sec = btf.find(".kconfig", Kind.DATASEC)
    for info in sec.secinfos if sec is not None else ():
        if btf.type(info.type_id).name == name:
            return any(kmap.contents[0][1][info.offset:info.offset + info.size])
    return None


class UsdtManager:
    """The spec ids of one collection's `__bpf_usdt_specs` map: allocated, shared by equal specs, freed."""

    def __init__(self, specs: Any, ips: Any, layout: SpecLayout, has_cookie: bool) -> None:
        self.specs = specs
        self.ips = ips
        self.layout = layout
        self.has_cookie = has_cookie
        self._free = list(range(specs.max_entries - 1, -1, -1))
        self._ids: dict[bytes, list[int]] = {}  # spec value -> [id, users]

    def acquire(self, value: bytes) -> int:
        """The id of a spec with this value, written into the specs map if it is new."""
        held = self._ids.get(value)
        if held is not None:
            held[1] += 1
            return held[0]
        if not self._free:
            raise LoadError(f"{SPECS_MAP} is full ({self.specs.max_entries} probe sites); "
                            "define BPF_USDT_MAX_SPEC_CNT larger before including usdt.bpf.h")
        spec_id = self._free.pop()
        self.specs[spec_id.to_bytes(4, "little")] = value
        self._ids[value] = [spec_id, 1]
        return spec_id

    def release(self, spec_id: int) -> None:
        for value, held in list(self._ids.items()):
            if held[0] == spec_id:
                held[1] -= 1
                if held[1] == 0:
                    del self._ids[value]
                    self._free.append(spec_id)
                return

    def map_ip(self, ip: int, spec_id: int) -> None:
        if self.ips is None:
            raise LoadError(f"this kernel has no BPF cookies and the collection has no {IP_MAP} map")
        self.ips[ip.to_bytes(8, "little")] = spec_id.to_bytes(4, "little")

    def unmap_ip(self, ip: int) -> None:
        try:
            del self.ips[ip.to_bytes(8, "little")]
        except (KeyError, MapError):
            pass


def usdt_manager(collection: Any) -> UsdtManager:
    """The collection's USDT spec allocator (made on first use from its usdt.bpf.h maps)."""
    manager = getattr(collection, "_usdt_manager", None)
    if manager is not None:
        return manager
    maps: Mapping[str, Any] = collection.maps
    if SPECS_MAP not in maps:
        raise LoadError(f"the collection has no {SPECS_MAP} map: a USDT program must include usdt.bpf.h "
                        "and read its arguments with BPF_USDT() or bpf_usdt_arg()")
    specs = maps[SPECS_MAP]
    spec = getattr(collection, "spec", None)
    layout = layout_from_btf(getattr(spec, "btf", None), specs.spec.value_type_id, specs.value_size)
    cookie = kconfig_flag(spec, "LINUX_HAS_BPF_COOKIE")
    if cookie is None:
        from pybpf.object.kconfig import system_kconfig

        cookie = system_kconfig().get("LINUX_HAS_BPF_COOKIE") == "y"
    manager = UsdtManager(specs, maps.get(IP_MAP), layout, cookie)
    collection._usdt_manager = manager
    return manager


class _Semaphore:
    """A USDT semaphore incremented by hand in /proc/PID/mem (kernels without uprobe ref_ctr_offset)."""

    def __init__(self, pid: int, address: int) -> None:
        self.pid, self.address = pid, address
        self._add(1)

    def _add(self, delta: int) -> None:
        try:
            with open(f"/proc/{self.pid}/mem", "r+b", buffering=0) as mem:
                mem.seek(self.address)
                (count,) = struct.unpack("<H", mem.read(2))
                mem.seek(self.address)
                mem.write(struct.pack("<H", (count + delta) & 0xFFFF))
        except OSError as exc:
            raise LoadError(f"cannot set the USDT semaphore in process {self.pid}: {exc.strerror}") from None

    def close(self) -> None:
        try:
            self._add(-1)
        except LoadError:
            pass  # the process has exited


class UsdtLink(MultiLink):
    """The uprobes of one USDT attachment; close() detaches them and frees their specs."""

    kind = "usdt"

    def __init__(self, links: list[Link], description: str, manager: UsdtManager, spec_ids: list[int],
                 ips: list[int], semaphores: list[_Semaphore]) -> None:
        super().__init__(links, description)
        self._manager, self._spec_ids, self._ips, self._semaphores = manager, spec_ids, ips, semaphores

    def close(self) -> None:
        super().close()
        for sem in self._semaphores:
            sem.close()
        for ip in self._ips:
            self._manager.unmap_ip(ip)
        for spec_id in self._spec_ids:
            self._manager.release(spec_id)
        self._semaphores, self._ips, self._spec_ids = [], [], []


def owning_collection(prog: Any) -> Any:
    """The collection a kernel program was loaded with (None for a bare program)."""
    ref = getattr(prog, "collection", None)
    return ref() if callable(ref) else ref


def attach_usdt(prog: ProgLike, binary: str, provider: str, name: str, *, pid: int | None = None,
                cookie: int = 0, collection: Any = None) -> UsdtLink:
    """Attach a BPF_USDT program to every site of probe PROVIDER:NAME of a binary or library, as libbpf's
    bpf_program__attach_usdt: pid None (or -1) for every process, 0 for this one, else that process only; `cookie` is what
    bpf_usdt_cookie() returns in the program."""
    from pybpf.kernel.uprobe import resolve_binary

    expect_type(prog, {ProgramType.KPROBE}, "a USDT probe")
    coll = collection if collection is not None else owning_collection(prog)
    if coll is None:
        raise LoadError("a USDT program must be attached with its collection (its __bpf_usdt_specs map)")
    manager = usdt_manager(coll)
    path = resolve_binary(binary)
    probes = [p for p in read_probes(path) if p.provider == provider and p.name == name]
    if not probes:
        raise LoadError(f"no USDT probe {provider}:{name} in {path}")
    if pid is not None and pid < 0:
        pid = None
    elif pid == 0:  # as libbpf: this process
        pid = os.getpid()
    shared = is_shared_object(path)
    if not manager.has_cookie and shared and pid is None:
        raise LoadError(f"{path} is position-independent and this kernel has no BPF cookies: "
                        "attaching needs a pid")
    links: list[Link] = []
    spec_ids: list[int] = []
    ips: list[int] = []
    semaphores: list[_Semaphore] = []
    where = f" pid {pid}" if pid is not None else ""
    what = f"usdt {path}:{provider}:{name}{where} ({len(probes)} sites)"
    multi = getattr(prog, "expected_attach_type", 0) == AttachType.TRACE_UPROBE_MULTI
    try:
        ref_ctrs = []
        for probe in probes:
            spec_id = manager.acquire(encode_spec(probe.checked_args(), cookie, manager.layout))
            spec_ids.append(spec_id)
            if not manager.has_cookie:
                ip = runtime_address(pid, path, probe.address) if shared and pid is not None else probe.address
                manager.map_ip(ip, spec_id)
                ips.append(ip)
            ref_ctrs.append(_ref_ctr(probe, path, pid, semaphores))
            if not multi:
                links.append(attach_uprobe(prog, path, offset=probe.offset, pid=-1 if pid is None else pid,
                                           ref_ctr_offset=ref_ctrs[-1], cookie=spec_id))
        if multi:  # loaded for uprobe-multi (the kernel has it): one link for every site
            links.append(attach_uprobe_multi(prog, path, offsets=[p.offset for p in probes], ref_ctr_offsets=ref_ctrs,
                                             cookies=spec_ids, pid=-1 if pid is None else pid, description=what))
    except BaseException:
        UsdtLink(links, "", manager, spec_ids, ips, semaphores).close()
        raise
    return UsdtLink(links, what, manager, spec_ids, ips, semaphores)


def _ref_ctr(probe: UsdtProbe, path: str, pid: int | None, semaphores: list[_Semaphore]) -> int:
    """The ref_ctr_offset for the probe's uprobe; without kernel support, the semaphore set by hand."""
    if not probe.semaphore:
        return 0
    if ref_ctr_supported():
        return probe.semaphore
    if pid is None:
        raise LoadError(f"USDT probe {probe.provider}:{probe.name} has a semaphore and this kernel cannot "
                        "count it (no uprobe ref_ctr_offset): attaching needs a pid")
    semaphores.append(_Semaphore(pid, runtime_address(pid, path, probe.semaphore_address)))
    return 0


def parse_usdt_target(target: str) -> tuple[str, str, str]:
    """`PATH:PROVIDER:NAME` of a `usdt/...` section -> (path, provider, name); LoadError when malformed."""
    path, sep1, rest = target.rpartition(":")
    path, sep2, provider = path.rpartition(":")
    if not (sep1 and sep2 and path and provider and rest):
        raise LoadError(f"USDT target {target!r}: expected BINARY:PROVIDER:NAME")
    return path, provider, rest
