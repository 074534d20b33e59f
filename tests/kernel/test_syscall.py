"""The raw layer: bpf() errors name the command and errno, BTF_LOAD, object ids and info, link detach."""

from __future__ import annotations

import errno
import os

import pytest

from pybpf.abi import ProgramType
from pybpf.errors import KernelError
from pybpf.kernel import info
from pybpf.kernel.attr import MapElemAttr
from pybpf.kernel.btfload import load_btf
from pybpf.kernel.fd import FD
from pybpf.kernel.kernel_engine import load_collection
from pybpf.kernel.links import attach_raw_tracepoint
from pybpf.kernel.syscall import Cmd, bpf
from testlib import scalar

from .progs import counter_collection, counter_map, pid_counter_program

pytestmark = pytest.mark.kernel


def test_errors_name_command_and_errno() -> None:
    with pytest.raises(KernelError) as exc:
        bpf(Cmd.MAP_LOOKUP_ELEM, MapElemAttr(map_fd=0x7FFFFFF).raw())
    assert exc.value.errno == errno.EBADF
    assert "bpf(MAP_LOOKUP_ELEM) failed: EBADF" in str(exc.value)


def test_fd_ownership() -> None:
    r, w = os.pipe()
    os.close(w)
    fd = FD(r)
    assert fd.fileno() == r and not fd.closed
    fd.close()
    fd.close()  # harmless twice
    assert fd.closed
    with pytest.raises(KernelError):
        fd.fileno()
    with pytest.raises(KernelError):
        FD(-1)


def _minimal_btf() -> bytes:
    """BTF with one type: int (4 bytes, signed), written by hand from the format."""
    import struct

    strings = b"\0int\0"
    types = struct.pack("<III", 1, (1 << 24) | 0, 4) + struct.pack("<I", (1 << 24) | 32)  # INT, signed, 32 bits
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return header + types + strings


def test_btf_load_and_info_roundtrip() -> None:
    blob = _minimal_btf()
    with load_btf(blob) as fd:
        i = info.btf_info(fd.fd)
        assert not i.kernel_btf and i.size == len(blob)
        assert info.btf_data(fd.fd) == blob
        assert i.id in set(info.object_ids("btf"))
    with pytest.raises(KernelError) as exc:
        load_btf(blob[:-3] + b"\1\1\1")  # string section no longer NUL-terminated
    assert "kernel rejected BTF" in str(exc.value)


def test_link_info_close_and_early_detach() -> None:
    prog = pid_counter_program("rawtp", ProgramType.RAW_TRACEPOINT, os.getpid())
    from pybpf.object.spec import CollectionSpec

    with load_collection(CollectionSpec(programs={"rawtp": prog}, maps={"counts": counter_map()})) as coll:
        link = attach_raw_tracepoint(coll.programs["rawtp"], "sys_enter")
        with link:
            lid = link.info().id
            assert lid in {i.id for i in info.list_links()}
            with pytest.raises(KernelError) as exc:
                link.detach()  # raw tracepoint links only go away with their last fd
            assert exc.value.errno == errno.EOPNOTSUPP
        assert link.closed and lid not in {i.id for i in info.list_links()}
        n = int.from_bytes(scalar(coll.maps["counts"][0]), "little")
        for _ in range(5):
            os.getppid()
        assert int.from_bytes(scalar(coll.maps["counts"][0]), "little") == n


def test_cgroup_link_detach() -> None:
    from pybpf.abi import AttachType
    from pybpf.kernel.links import attach_cgroup
    from pybpf.object.spec import ProgramSpec

    from .progs import ret

    root = next((ln.split()[1] for ln in open("/proc/self/mounts") if ln.split()[2] == "cgroup2"), None)
    if root is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    cg = os.path.join(root, f"pybpf_detach_{os.getpid()}")
    os.mkdir(cg)
    try:
        spec = ProgramSpec(name="allow", instructions=tuple(ret(1)), type=ProgramType.CGROUP_SKB,
                           attach_type=AttachType.CGROUP_INET_EGRESS)
        from pybpf.kernel.links import query_attached

        with load_collection(spec) as coll, attach_cgroup(coll.programs["allow"], cg, "egress") as link:
            assert link.info().type_name == "cgroup"
            pid = info.prog_info(coll.programs["allow"].fd).id
            assert query_attached(cg, "egress") == [pid]
            link.detach()
            assert query_attached(cg, "egress") == []
    finally:
        os.rmdir(cg)


def test_prog_xlated_and_info_counts() -> None:
    with load_collection(counter_collection()) as coll:
        fd = coll.programs["count"].fd
        code = info.prog_xlated(fd)
        assert len(code) % 8 == 0 and len(code) >= 8 * 10
        pinfo = info.prog_info(fd)
        assert pinfo.verified_insns > 0 and pinfo.xlated_prog_len == len(code)
        with info.fd_by_id("prog", pinfo.id) as again:
            assert info.prog_info(again.fd).tag == pinfo.tag
    with pytest.raises(KernelError) as exc:
        info.fd_by_id("prog", 0x7FFFFFF0)
    assert exc.value.errno == errno.ENOENT
