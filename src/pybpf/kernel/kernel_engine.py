"""The kernel engine: load a CollectionSpec into Linux (maps, global data, BTF, programs) as a Collection."""

from __future__ import annotations

import errno
import os
import weakref
from collections.abc import Mapping
from typing import Any

from pybpf.abi import AttachType, MapFlags, MapType, ProgramType
from pybpf.collection import Collection
from pybpf.errors import BpfError, KernelError, LoadError, MapError
from pybpf.isa.instruction import Instruction, iter_slots
from pybpf.isa.opcodes import LDDW, PseudoSrc
from pybpf.kernel import btfload
from pybpf.kernel.fd import FD
from pybpf.kernel.maps import KernelMap, possible_cpus
from pybpf.kernel.pin import BPFFS, get_object, pin_object
from pybpf.kernel.programs import BPF_F_SLEEPABLE, KernelProgram, load_program
from pybpf.object import skeleton
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

PIN_BY_NAME = 1
# Program types whose attach target is a kernel BTF id resolved from the section's target name.
_BTF_ATTACH = {
    AttachType.TRACE_FENTRY: "fentry", AttachType.TRACE_FEXIT: "fexit", AttachType.MODIFY_RETURN: "fmod_ret",
    AttachType.LSM_MAC: "lsm", AttachType.TRACE_RAW_TP: "tp_btf", AttachType.TRACE_ITER: "iter",
}


class KernelCollection(Collection):
    """A Collection whose programs and maps live in the kernel; close() releases every fd."""

    programs: Mapping[str, KernelProgram]
    maps: Mapping[str, KernelMap]

    def __init__(self, programs: Mapping[str, KernelProgram], maps: Mapping[str, KernelMap],
                 owned: list[FD] | None = None, spec: CollectionSpec | None = None) -> None:
        super().__init__(programs=programs, maps=maps, engine="kernel")
        self._owned = owned or []
        self.spec = spec  # what was loaded (BTF, .kconfig values): USDT attach reads its spec layout there
        ref = weakref.ref(self)
        for prog in programs.values():
            prog.collection = ref  # attach_auto(prog) finds the collection's maps (e.g. USDT specs)

    def attach_usdt(self, prog: KernelProgram | str, binary: str, provider: str, name: str, *,
                    pid: int | None = None, cookie: int = 0) -> Any:
        """Attach a BPF_USDT program to probe PROVIDER:NAME of a binary (libbpf's bpf_program__attach_usdt):
        pid None for every process; `cookie` is what bpf_usdt_cookie() returns. Returns the link."""
        from pybpf.kernel.link.usdt import attach_usdt

        program: Any = self.programs[prog] if isinstance(prog, str) else prog
        return attach_usdt(program, binary, provider, name, pid=pid, cookie=cookie, collection=self)

    def close(self) -> None:
        super().close()
        for fd in self._owned:
            fd.close()
        self._owned = []

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass


def patch_map_references(insns: tuple[Instruction, ...], refs: tuple[MapReference, ...],
                         fds: Mapping[str, int]) -> list[Instruction]:
    """Rewrite each referenced lddw: src=BPF_PSEUDO_MAP_FD imm=fd, or MAP_VALUE imm=fd | offset << 32."""
    by_pc = {pc: i for i, (pc, _) in enumerate(iter_slots(insns))}
    out = list(insns)
    for ref in refs:
        index = by_pc.get(ref.pc)
        if index is None or out[index].opcode != LDDW:
            raise LoadError(f"map reference to {ref.map_name!r} at pc {ref.pc} is not on an lddw instruction")
        if ref.map_name not in fds:
            raise LoadError(f"program references unknown map {ref.map_name!r}")
        fd = fds[ref.map_name]
        if ref.kind == "value":
            out[index] = out[index].replace(src=PseudoSrc.MAP_VALUE, imm=fd | ((ref.offset & 0xFFFFFFFF) << 32))
        else:
            out[index] = out[index].replace(src=PseudoSrc.MAP_FD, imm=fd)
    return out


def effective_map_spec(spec: MapSpec) -> MapSpec:
    """Adjust what the kernel insists on (perf event arrays sized by CPUs, read-only .rodata)."""
    from dataclasses import replace

    if spec.type == MapType.PERF_EVENT_ARRAY and spec.max_entries == 0:
        spec = replace(spec, max_entries=possible_cpus())
    if spec.frozen and not spec.flags & MapFlags.RDONLY_PROG and spec.type == MapType.ARRAY:
        spec = replace(spec, flags=spec.flags | int(MapFlags.RDONLY_PROG))
    return spec


def _compatible(m: KernelMap, spec: MapSpec) -> bool:
    from pybpf.kernel.info import map_info

    info = map_info(m.fd)
    return (info.type, info.key_size, info.value_size, info.max_entries) == (
        spec.type, spec.key_size, spec.value_size, spec.max_entries)


def create_collection_map(spec: MapSpec, *, btf_fd: int = 0, pin_path: str | None = BPFFS) -> KernelMap:
    """Create one map of a collection: inner map template, BTF ids, contents, freeze, pinning by name."""
    spec = effective_map_spec(spec)
    if pin_path is None and spec.pinning:
        from dataclasses import replace

        spec = replace(spec, pinning=0)  # pinning turned off by the caller
    if spec.pinning == PIN_BY_NAME and pin_path is not None:
        path = os.path.join(pin_path, spec.name)
        if os.path.exists(path):
            m = KernelMap(spec, get_object(path))
            if not _compatible(m, spec):
                m.close()
                raise LoadError(f"pinned map {path} does not match the definition of {spec.name!r}")
            return m
    inner_fd = 0
    template: KernelMap | None = None
    if spec.type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
        if spec.inner_map is None:
            raise LoadError(f"map-in-map {spec.name!r} has no inner map definition")
        template = create_collection_map(spec.inner_map, btf_fd=0)
        inner_fd = template.fd
    try:
        try:
            m = KernelMap.create(spec, inner_map_fd=inner_fd, btf_fd=btf_fd)
        except KernelError:
            if not btf_fd:
                raise
            m = KernelMap.create(spec, inner_map_fd=inner_fd, btf_fd=0)
    finally:
        if template is not None:
            template.close()
    try:
        if spec.type not in (MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            for key, value in spec.contents:
                m.update(key, value)
        if spec.frozen:
            m.freeze()
        if spec.pinning == PIN_BY_NAME and pin_path is not None:
            pin_object(m.fd, os.path.join(pin_path, spec.name))
    except (BpfError, OSError):
        m.close()
        raise
    return m


def attach_btf_id_for(prog: ProgramSpec) -> int:
    if prog.attach_type not in _BTF_ATTACH:
        return 0
    from pybpf.kernel.vmlinux import attach_btf_id

    target = prog.attach_to or prog.section.split("/", 1)[-1]
    return attach_btf_id(_BTF_ATTACH[prog.attach_type], target)


def load_program_spec(prog: ProgramSpec, map_fds: Mapping[str, int], *, btf: btfload.LoadedBtf | None = None,
                      log_level: int = 0, kern_version: int | None = None) -> KernelProgram:
    """Patch a program's map references, resolve CO-RE and its BTF attach target, and load it."""
    insns = patch_map_references(prog.instructions, prog.map_references, map_fds)
    if prog.core_relos:
        insns = btfload.apply_core(prog, insns)
    ptype = prog.type
    if ptype == ProgramType.UNSPEC:
        raise LoadError(f"program {prog.name!r} has no program type (section {prog.section!r})")
    logs: list[str] = []
    ext = btf.ext_for(prog) if btf is not None else None
    own_btf: FD | None = None
    if ext is None and btfload.needs_synthetic_btf(prog, insns):
        # hand-assembled callbacks (bpf_loop, for_each_map_elem, ...): the kernel wants func_info
        blob, ext = btfload.synthetic_func_btf(prog, insns)
        own_btf = btfload.load_btf(blob)
    expected = int(prog.attach_type) if prog.attach_type is not None else usdt_attach_type(prog)
    load_kwargs: dict[str, Any] = dict(
        license=prog.license, name=prog.name, expected_attach_type=expected,
        kern_version=kern_version if kern_version is not None else prog.kernel_version or kernel_version_code(),
        flags=BPF_F_SLEEPABLE if prog.sleepable else 0, attach_btf_id=attach_btf_id_for(prog),
        log_level=log_level, log_out=logs,
    )
    btf_fd = own_btf.fd if own_btf is not None else (btf.fd if btf and ext else 0)
    try:
        try:
            fd = load_program(ptype, insns, btf_fd=btf_fd, btf_ext=ext if btf_fd else None, **load_kwargs)
        except KernelError as exc:
            if not btf_fd or exc.errno != errno.EINVAL:
                raise
            fd = load_program(ptype, insns, **load_kwargs)  # retry without BTF line/func info
    finally:
        if own_btf is not None:
            own_btf.close()  # the program keeps its own reference
    return KernelProgram(prog, fd, logs[0] if logs else "", expected)


def usdt_attach_type(prog: ProgramSpec) -> int:
    """A libbpf-style `usdt/` program (one reading usdt.bpf.h's spec map) loads for uprobe-multi links
    where the kernel has them, as libbpf does; else 0 (one perf-event uprobe per site)."""
    if prog.type != ProgramType.KPROBE or (prog.section or "").partition("/")[0] not in ("usdt", "usdt.s") \
            or not any(ref.map_name == "__bpf_usdt_specs" for ref in prog.map_references):
        return 0
    from pybpf.kernel.link import uprobe_multi

    return int(AttachType.TRACE_UPROBE_MULTI) if uprobe_multi.uprobe_multi_supported() else 0


def kernel_version_code() -> int:
    """LINUX_VERSION_CODE of the running kernel (kprobes of old kernels check it)."""
    release = os.uname().release.split("-")[0].split(".")
    nums = [int("".join(c for c in p if c.isdigit()) or 0) for p in release[:3]] + [0, 0, 0]
    return (nums[0] << 16) | (nums[1] << 8) | min(nums[2], 255)


def set_globals(spec: CollectionSpec, values: Mapping[str, int | bytes]) -> CollectionSpec:
    """A copy of `spec` whose global variables (.rodata/.data/.bss, found through BTF) hold `values`."""
    return skeleton.with_globals(spec, values)


def load_collection(spec: CollectionSpec | ProgramSpec, *, pin_path: str | None = BPFFS, log_level: int = 0,
                    kern_version: int | None = None, use_btf: bool = True,
                    globals: Mapping[str, int | bytes] | None = None, **_options: Any) -> KernelCollection:
    """Create every map (filled, frozen, pinned), then load every program; all or nothing.

    `globals` sets global variables (e.g. `const volatile` configuration) by name before loading.
    Maps marked LIBBPF_PIN_BY_NAME are pinned (or reused) under `pin_path`, /sys/fs/bpf by default as
    libbpf does; pin_path=None turns pinning off (fresh maps, nothing left on bpffs), e.g. in tests.
    """
    if isinstance(spec, ProgramSpec):
        spec = CollectionSpec.single(spec)
    if globals:
        spec = set_globals(spec, globals)
    spec = skeleton.loadable(spec)
    maps: dict[str, KernelMap] = {}
    programs: dict[str, KernelProgram] = {}
    owned: list[FD] = []
    try:
        btf = btfload.load_collection_btf(spec) if use_btf else None
        if btf is not None:
            owned.append(btf.fd_obj)
        for name, mspec in spec.maps.items():
            maps[name] = create_collection_map(mspec, btf_fd=btf.fd if btf else 0, pin_path=pin_path)
        fds = {name: m.fd for name, m in maps.items()}
        for name, pspec in spec.programs.items():
            programs[name] = load_program_spec(pspec, fds, btf=btf, log_level=log_level, kern_version=kern_version)
        _fill_slots(spec, maps, programs)
    except BaseException:
        for p in programs.values():
            p.close()
        for m in maps.values():
            m.close()
        for fd in owned:
            fd.close()
        raise
    return KernelCollection(programs, maps, owned, spec)


def _fill_slots(spec: CollectionSpec, maps: Mapping[str, KernelMap], programs: Mapping[str, KernelProgram]) -> None:
    """Static initialisation of prog_array (program fds) and map-in-map (map fds) slots."""
    for name, mspec in spec.maps.items():
        for slot, target in mspec.initial_slots:
            if mspec.type == MapType.PROG_ARRAY:
                if target not in programs:
                    raise LoadError(f"prog_array {name!r} slot {slot} names unknown program {target!r}")
                fd = programs[target].fd
            else:
                if target not in maps:
                    raise LoadError(f"map {name!r} slot {slot} names unknown map {target!r}")
                fd = maps[target].fd
            m = maps[name]
            try:
                m.update(slot.to_bytes(m.key_size, "little"), fd.to_bytes(4, "little"))
            except MapError as exc:
                raise LoadError(f"cannot fill slot {slot} of {name!r} with {target!r}: {exc}") from None
