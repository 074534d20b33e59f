"""The launch image of a cached compilation: its maps, programs and tracepoint/uprobe attachments as plain data, so
that `pybpf trace` can create, load and attach them with a few bpf() calls before it imports the runtime.

`image_of(compiled)` is made when a compilation is cached (with the whole kernel engine at hand); `launch(image,
cpid)` replays it with nothing but ctypes and the bpf() attribute structs, and `Launched.adopt(compiled)` hands
the kernel objects to the runtime afterwards. An image only holds what the kernel engine would send for the same
spec; a spec needing more (BTF, CO-RE, pinning, map-in-map, tail-call slots, attach kinds other than
tracepoints and uprobes, a BEGIN probe) gets no image and takes the engine's path. Any failure while launching undoes what was done and returns None:
the caller then loads the usual way, which reports the error properly.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pybpf.kernel.fd import FD
    from pybpf.trace.compiled import CompiledScript

IMAGE_FORMAT = 2
BPF_PERF_EVENT = 41  # enum bpf_attach_type BPF_PERF_EVENT (uapi; pybpf.abi.AttachType.PERF_EVENT)
_LDDW = 0x18
_SPECIAL = ("BEGIN", "END")


def image_of(compiled: CompiledScript) -> tuple[Any, ...] | None:
    """The launch image of `compiled` (marshal-able: tuples, ints, str, bytes), or None when the script needs
    something the launcher does not do."""
    from pybpf.isa.instruction import encode, iter_slots
    from pybpf.kernel.kernel_engine import (
        effective_map_spec,
        kernel_version_code,
        patch_map_references,
    )
    from pybpf.kernel.maps import object_name
    from pybpf.kernel.programs import BPF_F_SLEEPABLE
    from pybpf.kernel.tracefs import _split, tracefs_root
    from pybpf.kernel.uprobe import resolve_binary, symbol_offset
    from pybpf.object import skeleton
    from pybpf.trace.compiled import START_MAP as start_map

    spec = skeleton.loadable(compiled.spec)
    if spec.btf is not None or start_map not in spec.maps:
        return None
    names = list(spec.maps)
    maps = []
    for name in names:
        m = effective_map_spec(spec.maps[name])
        if m.pinning or m.inner_map is not None or m.initial_slots or m.numa_node:
            return None
        if not all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in m.contents):
            return None
        maps.append((object_name(m.name), int(m.type), m.key_size, m.value_size, m.max_entries, int(m.flags),
                     m.map_extra, tuple(m.contents), bool(m.frozen)))
    placeholder = {name: i for i, name in enumerate(names)}
    cpid_sites: dict[str, list[int]] = {}
    for prog_name, index in compiled.program.cpid_sites:
        cpid_sites.setdefault(prog_name, []).append(index)
    programs: list[tuple[Any, ...]] = []
    prog_index: dict[str, int] = {}
    for name, p in spec.programs.items():
        if p.core_relos or p.func_infos or p.btf is not None or p.extern_calls:
            return None
        insns = patch_map_references(p.instructions, p.map_references, placeholder)
        if any(i.opcode == _LDDW and i.src == 4 for i in insns):  # callbacks: the engine adds BTF for them
            return None
        offsets = [pc * 8 for pc, _ in iter_slots(insns)]
        map_sites = tuple((r.pc * 8, placeholder[r.map_name]) for r in p.map_references)
        cpid = tuple((offsets[i], insns[i].opcode == _LDDW) for i in cpid_sites.get(name, ()))
        prog_index[name] = len(programs)
        programs.append((object_name(name), int(p.type), int(p.attach_type) if p.attach_type is not None else 0,
                         p.kernel_version or kernel_version_code(), BPF_F_SLEEPABLE if p.sleepable else 0,
                         p.license.encode(), encode(insns), map_sites, cpid))
    attach = []
    for cp in compiled.probes:
        provider = cp.probe.provider
        if provider == "BEGIN":  # it runs (and prints) right after attaching, before the command starts
            return None
        if provider == "END":
            continue
        if cp.name not in prog_index:
            return None
        if provider == "tracepoint":
            category, event = _split(cp.probe.target, cp.probe.func)
            attach.append((prog_index[cp.name], provider, f"{tracefs_root()}/events/{category}/{event}/id", 0,
                           f"tracepoint {category}/{event}"))
        elif provider in ("uprobe", "uretprobe"):  # the binary is checked by the cache (size and mtime)
            path = resolve_binary(cp.probe.target)
            offset = symbol_offset(path, cp.probe.func)
            attach.append((prog_index[cp.name], provider, path, offset, f"{provider} {path}:{cp.probe.func}"))
        else:
            return None
    return (IMAGE_FORMAT, tuple(maps), tuple(programs), tuple(attach), placeholder[start_map],
            compiled.attach_count)


def attaching_line(count: int, json_mode: bool) -> str:
    """bpftrace's first line: "Attaching N probes..." (or its JSON record)."""
    if json_mode:
        from pybpf.trace.output import json_line

        return json_line("attached_probes", {"probes": count})
    return f"Attaching {count} probe{'s' if count != 1 else ''}...\n"


def valid(image: Any) -> bool:
    """True for an image of this format (a cache file from another pybpf is not launched)."""
    return isinstance(image, tuple) and len(image) == 6 and image[0] == IMAGE_FORMAT


def probe_count(image: tuple[Any, ...]) -> int:
    """How many probes the script has (BEGIN and END included), for "Attaching N probes..."."""
    return int(image[5])



class Launched:
    """The kernel objects of a launched image (owned fds), until adopt() gives them to the runtime."""

    def __init__(self) -> None:
        self.maps: list[FD] = []
        self.programs: list[FD] = []
        self.links: list[tuple[FD, FD | None, str]] = []  # (perf event, bpf_link or None, description)

    def close(self) -> None:
        for perf_fd, link_fd, _ in self.links:
            if link_fd is not None:
                link_fd.close()
            perf_fd.close()
        for fd in self.programs + self.maps:
            fd.close()
        self.links, self.programs, self.maps = [], [], []

    def adopt(self, compiled: CompiledScript) -> tuple[Any, list[Any], list[Any]]:
        """(collection, links, the probe of each link) for `compiled`, the compilation the image was made
        from; the fds now belong to them."""
        from pybpf.kernel.kernel_engine import KernelCollection, effective_map_spec
        from pybpf.kernel.link.perf_event import PerfEventLink
        from pybpf.kernel.maps import KernelMap
        from pybpf.kernel.programs import KernelProgram
        from pybpf.object import skeleton

        spec = skeleton.loadable(compiled.spec)
        maps = {name: KernelMap(effective_map_spec(m), fd) for (name, m), fd in zip(spec.maps.items(), self.maps,
                                                                             strict=True)}
        programs = {name: KernelProgram(p, fd) for (name, p), fd in zip(spec.programs.items(), self.programs,
                                                                        strict=True)}
        probes = [cp for cp in compiled.probes if cp.probe.provider not in _SPECIAL]
        links = [PerfEventLink(perf_fd, link_fd, text) for perf_fd, link_fd, text in self.links]
        self.links, self.programs, self.maps = [], [], []
        return KernelCollection(programs, maps, [], spec), links, probes


def launch(image: tuple[Any, ...], cpid: int, pid: int = 0) -> Launched | None:
    """Create the maps, load the programs (cpid patched in), attach them (uprobes for process `pid` only when
    not 0, as -p asks) and start the `elapsed` clock; None (nothing left behind) when any step fails."""
    import time

    from pybpf.errors import KernelError
    from pybpf.kernel.cpus import possible_cpus

    possible_cpus()  # read now: the runtime's per-CPU maps need it, and no file is opened once attached
    done = Launched()
    try:
        _launch(image, cpid, pid, done)
        start = image[4]
        _map_update(done.maps[start].fd, bytes(4), time.monotonic_ns().to_bytes(8, "little"))
    except (KernelError, OSError, ValueError, IndexError, TypeError, struct.error):
        done.close()
        return None
    return done


def _launch(image: tuple[Any, ...], cpid: int, pid: int, done: Launched) -> None:
    import ctypes

    from pybpf.kernel.attr import MapCreateAttr, MapElemAttr, ProgLoadAttr, ptr
    from pybpf.kernel.fd import FD
    from pybpf.kernel.syscall import Cmd, bpf

    maps, programs, attach = image[1:4]
    for name, mtype, key_size, value_size, max_entries, flags, extra, contents, frozen in maps:
        a = MapCreateAttr(map_type=mtype, key_size=key_size, value_size=value_size, max_entries=max_entries,
                          map_flags=flags, map_name=name, map_extra=extra)
        fd = FD(bpf(Cmd.MAP_CREATE, a.raw()))
        done.maps.append(fd)
        for key, value in contents:
            _map_update(fd.fd, key, value)
        if frozen:
            bpf(Cmd.MAP_FREEZE, MapElemAttr(map_fd=fd.fd).raw())
    for name, ptype, attach_type, kern_version, flags, license, code, map_sites, cpid_sites in programs:
        insns = bytearray(code)
        for offset, index in map_sites:
            struct.pack_into("<i", insns, offset + 4, done.maps[index].fd)
        for offset, wide in cpid_sites:
            struct.pack_into("<i", insns, offset + 4, cpid)
            if wide:
                struct.pack_into("<i", insns, offset + 12, 0)
        code_buf = ctypes.create_string_buffer(bytes(insns), len(insns))
        lic = ctypes.create_string_buffer(license)
        load = ProgLoadAttr(prog_type=ptype, insn_cnt=len(insns) // 8, insns=ptr(code_buf), license=ptr(lic),
                         kern_version=kern_version, prog_flags=flags, prog_name=name,
                         expected_attach_type=attach_type)
        done.programs.append(FD(bpf(Cmd.PROG_LOAD, load.raw())))
    from pybpf.kernel import perf

    attrs: list[tuple[Any, int, int, Any]] = []  # (perf_event_attr, pid, cpu, buffer it points to)
    for _, kind, target, offset, _ in attach:  # all read before the first probe is attached: it sees no
        if kind == "tracepoint":                # open() of ours
            with open(target) as f:
                attrs.append((perf.PerfEventAttr(type=perf.PerfType.TRACEPOINT, config=int(f.read()),
                                                 sample_period=1, wakeup_events=1), -1, 0, None))
        else:
            config = (1 << perf.pmu_retprobe_bit("uprobe")) if kind == "uretprobe" else 0
            path = ctypes.create_string_buffer(target.encode())
            attrs.append((perf.PerfEventAttr(type=perf.pmu_type("uprobe"), config=config,
                                             config1=ctypes.addressof(path), config2=offset, sample_period=1,
                                             wakeup_events=1), pid or -1, 0 if not pid else -1, path))
    for (index, _, _, _, text), (attr, event_pid, cpu, _) in zip(attach, attrs, strict=True):
        done.links.append(_attach_perf(done.programs[index].fd, attr, event_pid, cpu, text))


def _attach_perf(prog_fd: int, attr: Any, pid: int, cpu: int, text: str) -> tuple[FD, FD | None, str]:
    """perf_event_open (a tracepoint or uprobe), then the program on it: a bpf_link, else
    PERF_EVENT_IOC_SET_BPF (as pybpf.kernel.link.perf_event does)."""
    from pybpf.errors import KernelError
    from pybpf.kernel import perf
    from pybpf.kernel.attr import LinkCreateAttr
    from pybpf.kernel.fd import FD
    from pybpf.kernel.syscall import Cmd, bpf

    perf_fd = perf.perf_event_open(attr, pid=pid, cpu=cpu)
    try:
        a = LinkCreateAttr(prog_fd=prog_fd, target_fd=perf_fd.fd, attach_type=BPF_PERF_EVENT)
        try:
            return perf_fd, FD(bpf(Cmd.LINK_CREATE, a.raw())), text
        except KernelError:
            perf.ioctl(perf_fd.fd, perf.PERF_EVENT_IOC_SET_BPF, prog_fd)
            perf.ioctl(perf_fd.fd, perf.PERF_EVENT_IOC_ENABLE)
            return perf_fd, None, text
    except BaseException:
        perf_fd.close()
        raise


def _map_update(fd: int, key: bytes, value: bytes) -> None:
    import ctypes

    from pybpf.kernel.attr import MapElemAttr, ptr
    from pybpf.kernel.syscall import Cmd, bpf

    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value, len(value))
    bpf(Cmd.MAP_UPDATE_ELEM, MapElemAttr(map_fd=fd, key=ptr(k), value=ptr(v)).raw())
