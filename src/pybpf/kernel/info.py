"""What is loaded in the kernel: *_GET_NEXT_ID, *_GET_FD_BY_ID and BPF_OBJ_GET_INFO_BY_FD for all objects."""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterator
from dataclasses import dataclass, field

from pybpf.abi import MapType, ProgramType
from pybpf.errors import KernelError
from pybpf.kernel.attr import BtfInfo, GetIdAttr, InfoAttr, LinkInfo, MapInfo, ProgInfo, ptr
from pybpf.kernel.fd import FD
from pybpf.kernel.syscall import Cmd, bpf

LINK_TYPES = {
    0: "unspec", 1: "raw_tracepoint", 2: "tracing", 3: "cgroup", 4: "iter", 5: "netns", 6: "xdp",
    7: "perf_event", 8: "kprobe_multi", 9: "struct_ops", 10: "netfilter", 11: "tcx", 12: "uprobe_multi",
    13: "netkit", 14: "sockmap",
}

_NEXT = {"prog": Cmd.PROG_GET_NEXT_ID, "map": Cmd.MAP_GET_NEXT_ID, "link": Cmd.LINK_GET_NEXT_ID,
         "btf": Cmd.BTF_GET_NEXT_ID}
_BY_ID = {"prog": Cmd.PROG_GET_FD_BY_ID, "map": Cmd.MAP_GET_FD_BY_ID, "link": Cmd.LINK_GET_FD_BY_ID,
          "btf": Cmd.BTF_GET_FD_BY_ID}


def object_ids(kind: str) -> Iterator[int]:
    """Every id of `kind` ("prog", "map", "link", "btf") currently in the kernel, ascending."""
    current = 0
    while True:
        a = GetIdAttr(start_id=current)
        buf = a.raw()
        try:
            bpf(_NEXT[kind], buf)
        except KernelError as exc:
            if exc.errno == errno.ENOENT:
                return
            raise
        a.load(buf)
        current = a.next_id
        yield current


def fd_by_id(kind: str, obj_id: int) -> FD:
    """Open the `kind` object with id `obj_id` (KernelError ENOENT when it is gone)."""
    try:
        return FD(bpf(_BY_ID[kind], GetIdAttr(start_id=obj_id).raw()))
    except KernelError as exc:
        raise KernelError(f"no {kind} with id {obj_id}: {exc}", errno=exc.errno) from None


def _get_info(fd: int, info: ctypes.Structure) -> None:
    a = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ptr(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, a.raw())


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace")


@dataclass(frozen=True)
class ProgInfoData:
    """bpf_prog_info, decoded."""

    id: int
    type: int
    name: str
    tag: str
    load_time: int
    created_by_uid: int
    map_ids: tuple[int, ...]
    btf_id: int
    xlated_prog_len: int
    jited_prog_len: int
    verified_insns: int
    run_time_ns: int
    run_cnt: int
    gpl_compatible: bool

    @property
    def type_name(self) -> str:
        try:
            return ProgramType(self.type).name.lower()
        except ValueError:
            return f"type_{self.type}"


@dataclass(frozen=True)
class MapInfoData:
    """bpf_map_info, decoded."""

    id: int
    type: int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    map_extra: int = 0

    @property
    def type_name(self) -> str:
        try:
            return MapType(self.type).name.lower()
        except ValueError:
            return f"type_{self.type}"


@dataclass(frozen=True)
class LinkInfoData:
    """bpf_link_info, decoded (the type-specific part as raw u64 words)."""

    id: int
    type: int
    prog_id: int
    extra: tuple[int, ...] = field(default=())

    @property
    def type_name(self) -> str:
        return LINK_TYPES.get(self.type, f"type_{self.type}")


@dataclass(frozen=True)
class BtfInfoData:
    """bpf_btf_info, decoded."""

    id: int
    name: str
    size: int
    kernel_btf: bool


def prog_info(fd: int) -> ProgInfoData:
    """BPF_OBJ_GET_INFO_BY_FD for a program, with its map ids."""
    info = ProgInfo()
    _get_info(fd, info)
    n = info.nr_map_ids
    ids = (ctypes.c_uint32 * max(n, 1))()
    if n:
        info2 = ProgInfo(nr_map_ids=n, map_ids=ctypes.addressof(ids))
        _get_info(fd, info2)
    return ProgInfoData(
        id=info.id, type=info.type, name=_name(bytes(info.name)), tag=bytes(info.tag).hex(),
        load_time=info.load_time, created_by_uid=info.created_by_uid, map_ids=tuple(ids[:n]),
        btf_id=info.btf_id, xlated_prog_len=info.xlated_prog_len, jited_prog_len=info.jited_prog_len,
        verified_insns=info.verified_insns, run_time_ns=info.run_time_ns, run_cnt=info.run_cnt,
        gpl_compatible=bool(info.gpl_compatible & 1),
    )


def prog_xlated(fd: int) -> bytes:
    """The program's instructions as the kernel holds them after its rewrites."""
    info = ProgInfo()
    _get_info(fd, info)
    buf = ctypes.create_string_buffer(info.xlated_prog_len)
    _get_info(fd, ProgInfo(xlated_prog_len=info.xlated_prog_len, xlated_prog_insns=ctypes.addressof(buf)))
    return buf.raw


def map_info(fd: int) -> MapInfoData:
    """BPF_OBJ_GET_INFO_BY_FD for a map."""
    info = MapInfo()
    _get_info(fd, info)
    return MapInfoData(
        id=info.id, type=info.type, name=_name(bytes(info.name)), key_size=info.key_size,
        value_size=info.value_size, max_entries=info.max_entries, flags=info.map_flags, btf_id=info.btf_id,
        btf_key_type_id=info.btf_key_type_id, btf_value_type_id=info.btf_value_type_id,
        map_extra=info.map_extra,
    )


def link_info(fd: int) -> LinkInfoData:
    """BPF_OBJ_GET_INFO_BY_FD for a link."""
    info = LinkInfo()
    _get_info(fd, info)
    return LinkInfoData(id=info.id, type=info.type, prog_id=info.prog_id, extra=tuple(info.extra))


def btf_info(fd: int) -> BtfInfoData:
    """BPF_OBJ_GET_INFO_BY_FD for a BTF object (with its name)."""
    name = ctypes.create_string_buffer(128)
    info = BtfInfo(name=ctypes.addressof(name), name_len=128)
    _get_info(fd, info)
    return BtfInfoData(id=info.id, name=name.value.decode(errors="replace"), size=info.btf_size,
                       kernel_btf=bool(info.kernel_btf))


def btf_data(fd: int) -> bytes:
    """The raw BTF blob of a loaded BTF object."""
    info = BtfInfo()
    _get_info(fd, info)
    buf = ctypes.create_string_buffer(info.btf_size)
    _get_info(fd, BtfInfo(btf=ctypes.addressof(buf), btf_size=info.btf_size))
    return buf.raw


def list_progs() -> list[ProgInfoData]:
    """Info on every program in the kernel (those that vanish meanwhile are skipped)."""
    return _list("prog", prog_info)  # type: ignore[return-value]


def list_maps() -> list[MapInfoData]:
    """Info on every map in the kernel."""
    return _list("map", map_info)  # type: ignore[return-value]


def list_links() -> list[LinkInfoData]:
    """Info on every link in the kernel."""
    return _list("link", link_info)  # type: ignore[return-value]


def list_btf() -> list[BtfInfoData]:
    """Info on every BTF object in the kernel."""
    return _list("btf", btf_info)  # type: ignore[return-value]


def _list(kind: str, get: object) -> list[object]:
    out = []
    for obj_id in object_ids(kind):
        try:
            with fd_by_id(kind, obj_id) as fd:
                out.append(get(fd.fd))  # type: ignore[operator]
        except KernelError as exc:
            if exc.errno != errno.ENOENT:
                raise
    return out
