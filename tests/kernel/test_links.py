"""Links on real hooks: tracepoint, raw tracepoint, fentry, uprobe on a gcc-built binary, socket filter, cgroup."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from pybpf.abi import AttachType, ProgramType
from pybpf.errors import KernelError, LoadError
from pybpf.kernel import info
from pybpf.kernel.kernel_engine import KernelCollection, load_collection
from pybpf.kernel.links import (
    attach_cgroup,
    attach_kprobe,
    attach_raw_tracepoint,
    attach_socket,
    attach_tracepoint,
    attach_tracing,
    attach_uprobe,
    kprobes_supported,
)
from pybpf.kernel.uprobe import symbol_offset
from pybpf.object.spec import CollectionSpec, ProgramSpec
from testlib import scalar

from .progs import counter_map, pid_counter_program, ret

pytestmark = pytest.mark.kernel


def _load(prog: ProgramSpec) -> KernelCollection:
    return load_collection(CollectionSpec(programs={prog.name: prog}, maps={"counts": counter_map()}))


def _count(coll: KernelCollection) -> int:
    return int.from_bytes(scalar(coll.maps["counts"][0]), "little")


def test_tracepoint_counts_own_syscalls() -> None:
    prog = pid_counter_program("getppid", ProgramType.TRACEPOINT, os.getpid())
    with _load(prog) as coll:
        with attach_tracepoint(coll.programs["getppid"], "syscalls/sys_enter_getppid") as link:
            for _ in range(25):
                os.getppid()
            assert not link.closed
        assert _count(coll) == 25
        for _ in range(5):
            os.getppid()  # detached: no longer counted
        assert _count(coll) == 25


def test_raw_tracepoint_link_info() -> None:
    prog = pid_counter_program("rawenter", ProgramType.RAW_TRACEPOINT, os.getpid())
    with _load(prog) as coll:
        with attach_raw_tracepoint(coll.programs["rawenter"], "sys_enter") as link:
            linfo = link.info()
            assert linfo.type_name == "raw_tracepoint"
            assert linfo.id in {i.id for i in info.list_links()}
            for _ in range(10):
                os.getppid()
        n = _count(coll)
        assert n >= 10  # every syscall of this process, the getppid calls included
    with pytest.raises(LoadError):
        with _load(prog) as coll:
            attach_raw_tracepoint(coll.programs["rawenter"], "no_such_tracepoint_xyz")


def test_fentry_on_kernel_function() -> None:
    prog = pid_counter_program("fentry_getppid", ProgramType.TRACING, os.getpid(),
                               attach_type=AttachType.TRACE_FENTRY)
    prog = ProgramSpec(**{**{f: getattr(prog, f) for f in prog.__slots__}, "attach_to": "__do_sys_getppid"})
    if os.uname().machine != "x86_64":
        pytest.skip("the syscall wrapper name is x86-64 specific")
    try:
        coll = _load(prog)
    except KernelError as exc:
        pytest.skip(f"this kernel refuses fentry programs: {exc}")
    with coll:
        with attach_tracing(coll.programs["fentry_getppid"]):
            for _ in range(7):
                os.getppid()
        assert _count(coll) == 7


def test_kprobes_reported_clearly() -> None:
    if kprobes_supported():
        pytest.skip("this kernel has kprobes")
    with pytest.raises(KernelError) as exc:
        attach_kprobe(0, "do_sys_open")
    assert "kprobes are not supported by this kernel" in str(exc.value)


UPROBE_C = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int target_function(int x) { __asm__ volatile(""); return x * 2; }
int main(int argc, char **argv) {
    int n = atoi(argv[1]), s = 0;
    for (int i = 0; i < n; i++) s += target_function(i);
    printf("%d\n", s);
    return 0;
}
"""


@pytest.fixture(scope="module")
def uprobe_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("uprobe")
    (d / "t.c").write_text(UPROBE_C)
    subprocess.run(["gcc", "-O1", "-o", str(d / "t"), str(d / "t.c")], check=True)
    return d / "t"


def test_symbol_offset_matches_nm(uprobe_binary: Path) -> None:
    out = subprocess.run(["nm", str(uprobe_binary)], capture_output=True, text=True).stdout
    addr = next(int(line.split()[0], 16) for line in out.splitlines() if line.endswith(" target_function"))
    # a PIE built by gcc maps .text with vaddr == file offset
    assert symbol_offset(str(uprobe_binary), "target_function") == addr
    with pytest.raises(LoadError):
        symbol_offset(str(uprobe_binary), "no_such_symbol")


@pytest.mark.parametrize("retprobe", [False, True])
def test_uprobe_counts_calls(uprobe_binary: Path, retprobe: bool) -> None:
    # count every hit (no pid filter: only the child runs this binary)
    from .progs import counter_program

    prog = counter_program("uprobe_count", ProgramType.KPROBE, 0)
    with _load(prog) as coll:
        with attach_uprobe(coll.programs["uprobe_count"], str(uprobe_binary), "target_function",
                           retprobe=retprobe):
            out = subprocess.run([str(uprobe_binary), "37"], capture_output=True, text=True, check=True)
            assert out.stdout.strip() == str(sum(2 * i for i in range(37)))
        assert _count(coll) == 37


def test_socket_filter_drops_everything() -> None:
    # A socket filter returning 0 truncates every packet to nothing: the socket receives none.
    with load_collection(ProgramSpec(name="drop", instructions=tuple(ret(0)),
                                     type=ProgramType.SOCKET_FILTER)) as coll:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rx.bind(("127.0.0.1", 0))
            rx.settimeout(0.2)
            with attach_socket(coll.programs["drop"], rx):
                tx.sendto(b"dropped", rx.getsockname())
                with pytest.raises(TimeoutError):
                    rx.recv(100)
            tx.sendto(b"passes", rx.getsockname())
            assert rx.recv(100) == b"passes"
        finally:
            rx.close()
            tx.close()


def _cgroup2_root() -> str | None:
    for line in open("/proc/self/mounts"):
        parts = line.split()
        if parts[2] == "cgroup2":
            return parts[1]
    return None


def test_cgroup_sock_create_denies_sockets() -> None:
    root = _cgroup2_root()
    if root is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    prog = ProgramSpec(name="nosock", instructions=tuple(ret(0)), type=ProgramType.CGROUP_SOCK,
                       attach_type=AttachType.CGROUP_INET_SOCK_CREATE)
    cg = os.path.join(root, f"pybpf_test_{os.getpid()}")
    os.mkdir(cg)
    try:
        with load_collection(prog) as coll:
            with attach_cgroup(coll.programs["nosock"], cg, "sock_create"):
                code = ("import os,socket,sys\n"
                        f"open('{cg}/cgroup.procs','w').write(str(os.getpid()))\n"
                        "try:\n socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nexcept PermissionError:\n"
                        " sys.exit(3)\nsys.exit(0)\n")
                assert subprocess.run(["python3", "-c", code]).returncode == 3
            assert subprocess.run(["python3", "-c", code]).returncode == 0
    finally:
        os.rmdir(cg)


def test_uprobe_on_shared_library_function() -> None:
    # getppid in libc, hit by a child process only: filter on its pid through a counter keyed by nothing
    from pybpf.kernel.uprobe import resolve_binary

    try:
        libc = resolve_binary("libc.so.6")
    except LoadError:
        pytest.skip("libc.so.6 not found")
    # the child says when its start-up (which may call getppid itself) is over, then waits for us
    code = "import os,sys\nprint('ready', flush=True)\nsys.stdin.read(1)\nfor _ in range(9): os.getppid()\n"
    child = subprocess.Popen(["python3", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        prog = pid_counter_program("libc_getppid", ProgramType.KPROBE, child.pid)
        with _load(prog) as coll:
            with attach_uprobe(coll.programs["libc_getppid"], libc, "getppid"):
                assert child.stdin is not None
                child.stdin.write(b"x")
                child.stdin.close()
                assert child.wait(timeout=30) == 0
            assert _count(coll) == 9
    finally:
        if child.poll() is None:
            child.kill()


def test_perf_event_sampling_runs_program() -> None:
    from pybpf.kernel.links import attach_sampling

    from .progs import counter_program

    prog = counter_program("sample", ProgramType.PERF_EVENT, 0)
    with _load(prog) as coll:
        with attach_sampling(coll.programs["sample"], frequency=1000) as link:
            assert len(link.links) >= 1
            import time

            end = time.monotonic() + 5.0
            while time.monotonic() < end and _count(coll) == 0:
                sum(range(10000))  # keep a CPU busy so cpu-clock samples fire
        assert _count(coll) > 0


@pytest.mark.parametrize("retprobe", [False, True])
def test_uprobe_sees_arguments_and_return_values(uprobe_binary: Path, retprobe: bool) -> None:
    # sum of pt_regs->di (first argument) at entry, or pt_regs->ax (return value) at return
    from pybpf.isa.instruction import Instruction as I
    from pybpf.object.spec import MapReference

    arch = os.uname().machine
    offsets = {"x86_64": (112, 80), "aarch64": (0, 0)}
    if arch not in offsets:
        pytest.skip(f"pt_regs layout of {arch} not known to this test")
    off = offsets[arch][1 if retprobe else 0]
    insns = (
        I(0x79, 6, 1, off, 0),  # r6 = *(u64 *)(ctx + off)
        I(0x62, 10, 0, -4, 0), I(0xBF, 2, 10), I(0x07, 2, 0, 0, -4),
        I(0x18, 1), I(0x85, 0, 0, 0, 1),  # lookup counts[0] (lddw at slot 4)
        I(0x15, 0, 0, 1, 0), I(0xDB, 0, 6, 0, 0),  # lock *(u64 *)(r0) += r6
        I(0xB7, 0, 0, 0, 0), I(0x95),
    )
    prog = ProgramSpec(name="regs", instructions=insns, type=ProgramType.KPROBE,
                       map_references=(MapReference(4, "counts"),))
    with _load(prog) as coll:
        with attach_uprobe(coll.programs["regs"], str(uprobe_binary), "target_function", retprobe=retprobe):
            subprocess.run([str(uprobe_binary), "37"], capture_output=True, check=True)
        expected = sum(2 * i for i in range(37)) if retprobe else sum(range(37))
        assert _count(coll) == expected


def test_cgroup_sysctl_denies_access() -> None:
    root = _cgroup2_root()
    if root is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    prog = ProgramSpec(name="nosysctl", instructions=tuple(ret(0)), type=ProgramType.CGROUP_SYSCTL,
                       attach_type=AttachType.CGROUP_SYSCTL)
    cg = os.path.join(root, f"pybpf_sysctl_{os.getpid()}")
    os.mkdir(cg)
    code = ("import os,sys\n"
            f"open('{cg}/cgroup.procs','w').write(str(os.getpid()))\n"
            "try:\n open('/proc/sys/kernel/ostype').read()\nexcept PermissionError:\n sys.exit(3)\nsys.exit(0)\n")
    try:
        with load_collection(prog) as coll:
            with attach_cgroup(coll.programs["nosysctl"], cg, "sysctl"):
                assert subprocess.run(["python3", "-c", code]).returncode == 3
            assert subprocess.run(["python3", "-c", code]).returncode == 0
    finally:
        os.rmdir(cg)


def test_uprobe_target_resolution() -> None:
    from pybpf.kernel.uprobe import resolve_binary

    try:
        libc = resolve_binary("c")
    except LoadError:
        pytest.skip("no libc found in the library directories")
    assert os.path.basename(libc).startswith("libc.so.") and open(libc, "rb").read(4) == b"\x7fELF"
    assert resolve_binary("libc") == libc
    for bad in ("", "/", "no_such_binary_pybpf"):
        with pytest.raises(LoadError):
            resolve_binary(bad)
    with pytest.raises(LoadError):
        symbol_offset(libc, "pybpf_no_such_symbol")
