"""libbpf-style programs compile with pybpf's headers alone and load/attach on the running kernel.

Our own programs in data/libbpf/ use each macro of bpf_helpers.h, bpf_tracing.h, bpf_core_read.h,
bpf_endian.h and usdt.bpf.h, against a vmlinux.h made by `pybpf inspect --btf header` (kfuncs
included). Kernel tests load them through the default (verifying) path where pybpf models the
program, attach where this kernel has the hook, and check the values the programs saw.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from pathlib import Path

import pytest

from pybpf.abi import ProgramType
from pybpf.btf import load_vmlinux
from pybpf.btf.cheader import c_header
from pybpf.engines import Runtime
from pybpf.isa.opcodes import CALL
from pybpf.object import load_file
from pybpf.toolchain import compile_c, zig_available
from testlib import kernel_program, scalar

DATA = Path(__file__).parent / "data" / "libbpf"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
pytestmark = pytest.mark.skipif(not zig_available(), reason="ziglang is not installed")
needs_vmlinux = pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux on this machine")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory):
    """Compile data/libbpf/NAME.bpf.c with a vmlinux.h of the running kernel; the object path."""
    out = tmp_path_factory.mktemp("libbpf")
    if VMLINUX.exists():
        (out / "vmlinux.h").write_text(c_header(load_vmlinux()))

    def compile_one(name: str) -> Path:
        return compile_c(DATA / f"{name}.bpf.c", out / f"{name}.o", include_dirs=[out],
                         defines=["__TARGET_ARCH_x86"] if os.uname().machine == "x86_64" else [])

    return compile_one


def test_uapi_only_program_compiles_and_runs(build) -> None:
    spec = load_file(build("uapi_only"))
    prog = spec.programs["classify"]
    assert 12 in [i.imm for i in prog.instructions if i.opcode == CALL]  # bpf_tail_call_static
    col = Runtime("interp").load(spec)
    try:
        ipv4 = bytes(12) + b"\x08\x00" + bytes(50)
        arp = bytes(12) + b"\x08\x06" + bytes(50)
        other = bytes(12) + b"\x12\x34" + bytes(50)
        run = col.programs["classify"].run
        assert [run(ipv4).retval, run(arp).retval, run(other).retval] == [2, 3, 4]  # PASS, TX, REDIRECT
    finally:
        col.close()


def test_libbpf_pin_names_do_not_clash_with_libbpfs_own_header(tmp_path: Path) -> None:
    """pybpf's <linux/bpf.h> next to a libbpf bpf_helpers.h (which defines enum libbpf_pin_type)."""
    theirs = tmp_path / "libbpf" / "bpf"
    theirs.mkdir(parents=True)
    (theirs / "bpf_helpers.h").write_text(
        "#pragma once\nenum libbpf_pin_type { LIBBPF_PIN_NONE, LIBBPF_PIN_BY_NAME };\n"
        "#define SEC(n) __attribute__((section(n), used))\n")
    (tmp_path / "mixed.c").write_text(
        "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
        "SEC(\"xdp\") int p(struct xdp_md *ctx) { return LIBBPF_PIN_BY_NAME + XDP_DROP; }\n")
    compile_c(tmp_path / "mixed.c", tmp_path / "mixed.o", include_dirs=[tmp_path / "libbpf"],
              flags=["-Wall", "-Werror"])


def test_prog2_rebuilds_a_struct_passed_by_value(tmp_path: Path) -> None:
    """BPF_PROG2: a 16-byte struct argument takes two context words, the next argument the third."""
    (tmp_path / "p2.c").write_text(r"""
#include <bpf_helpers.h>
#include <bpf_tracing.h>
struct pair { __u64 lo, hi; };
SEC("raw_tp/x") int BPF_PROG2(p2, struct pair, pr, int, n) { return pr.hi - pr.lo + n; }
char LICENSE[] SEC("license") = "GPL";
""")
    spec = load_file(compile_c(tmp_path / "p2.c", tmp_path / "p2.o"))
    loads = [i.off for i in spec.programs["p2"].instructions if i.opcode == 0x79 and i.src == 1]
    assert sorted(loads) == [0, 8, 16]  # ctx[0], ctx[1] -> pr; ctx[2] -> n


@needs_vmlinux
@pytest.mark.parametrize("name", ["trace_attach", "kprobes", "btf_programs"])
def test_vmlinux_programs_compile(build, name: str) -> None:
    spec = load_file(build(name))
    assert spec.programs and spec.license


@needs_vmlinux
def test_kfunc_calls_from_vmlinux_h(build) -> None:
    prog = load_file(build("btf_programs")).programs["on_unlink"]
    assert {name for _, name in prog.extern_calls} >= {"bpf_task_from_pid", "bpf_task_release"}


def _libc() -> str:
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1] if len(line.split()) >= 6 else ""
        if "/libc.so" in path or "/libc-" in path:
            return path
    found = ctypes.util.find_library("c")
    if not found:
        pytest.skip("no libc found to put uprobes on")
    return found


@pytest.mark.kernel
@needs_vmlinux
def test_raw_tp_and_uprobes_see_the_right_values(build) -> None:
    from pybpf.kernel import links

    comm = Path("/proc/self/comm").read_bytes().strip()[:15]
    spec = load_file(build("trace_attach")).with_globals(
        {"target_tgid": os.getpid(), "target_comm": comm.ljust(16, b"\0")})
    col = Runtime("kernel", pin_path=None).load(spec)  # verified by pybpf first
    try:
        libc = _libc()
        with links.attach_raw_tracepoint(kernel_program(col, "on_sys_enter"), "sys_enter"), \
                links.attach_uprobe(kernel_program(col, "on_kill"), libc, "kill"), \
                links.attach_uprobe(kernel_program(col, "on_kill_ret"), libc, "kill", retprobe=True):
            os.kill(os.getpid(), 0)
        seen = {k: v for k, v in ((struct.unpack("<I", k)[0], struct.unpack("<q", scalar(v))[0])
                                  for k, v in col.maps["seen"].items())}
    finally:
        col.close()
    assert seen[0] >= 1                        # the syscall's arguments read through CO-RE
    assert seen[1] == os.getppid()             # BPF_CORE_READ(task, real_parent, tgid)
    assert seen[6] == 1                        # BPF_CORE_READ_STR_INTO(&comm, task, group_leader, comm)
    assert seen[5] >= 1 and (seen[2], seen[3]) == (os.getpid(), 0)  # BPF_UPROBE(kill, pid, sig)
    assert seen[4] == 0                        # BPF_URETPROBE: kill() returned 0


@pytest.mark.kernel
@needs_vmlinux
def test_kprobe_style_programs_load(build) -> None:
    """kprobe, kretprobe (with and without argument), ksyscall, usdt and perf_event programs load."""
    spec = load_file(build("kprobes"))
    assert {"on_unlink", "on_unlink_ret", "on_unlink_ret_bare", "on_kill", "on_tgkill", "on_switch",
            "on_probe", "on_sample"} == set(spec.programs)
    Runtime("kernel", verify=False, pin_path=None).load(spec).close()  # the kernel's verifier alone
    # through pybpf's verifier too, but for BPF_SNPRINTF (ARG_PTR_TO_CONST_STR is not modelled yet)
    Runtime("kernel", pin_path=None).load(spec.with_autoload("on_unlink", False)).close()


@pytest.mark.kernel
@needs_vmlinux
def test_btf_typed_programs_load_where_the_kernel_allows(build) -> None:
    from pybpf.kernel.features import program_type

    tracing = program_type(ProgramType.TRACING)
    if not tracing:
        pytest.skip(f"this kernel refuses tracing programs: {tracing.detail}")
    col = Runtime("kernel", verify=False, pin_path=None).load(load_file(build("btf_programs")))
    col.close()


@needs_vmlinux
def test_ksyscall_sections_name_a_kernel_function() -> None:
    """`ksyscall/kill` goes on the syscall's entry function of this kernel (wrapper or not)."""
    from pybpf.btf import Kind
    from pybpf.kernel.links import syscall_function

    name = syscall_function("kill")
    assert name.endswith("sys_kill")
    assert load_vmlinux().find(name, Kind.FUNC) is not None
