"""C headers from BTF (vmlinux.h): they compile with zig, and the compiled layouts equal the BTF's."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.btf import Btf, BtfType, EnumValue, Kind, Member, load_vmlinux
from pybpf.btf.cheader import _Header, c_header
from pybpf.btf.types import Param
from pybpf.object import load_file
from pybpf.object.elf import ElfFile

VMLINUX = Path("/sys/kernel/btf/vmlinux")
needs_zig = pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="ziglang is not installed")
needs_vmlinux = pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux on this machine")


def _compile(tmp: Path, source: str) -> Path:
    (tmp / "x.c").write_text(source)
    out = tmp / "x.o"
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", "bpfel-freestanding", "-O2", "-g", "-c",
           str(tmp / "x.c"), "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _layout_check(btf: Btf, tmp: Path, step: int, header: str | None = None) -> int:
    """Compile one variable of each (sampled) struct/union and compare sizes and member offsets."""
    (tmp / "types.h").write_text(header if header is not None else c_header(btf))
    names = _Header(btf).names
    lines = ['#include "types.h"']
    wanted = [t for t in btf if t.kind in (Kind.STRUCT, Kind.UNION) and t.name and t.size][::step]
    for t in wanted:
        tag = "struct" if t.kind == Kind.STRUCT else "union"
        lines.append(f'{tag} {names.get(t.id, t.name)} __v_{t.id} __attribute__((section(".bss.all")));')
    obj = _compile(tmp, "\n".join(lines) + "\n")
    elf = ElfFile(obj.read_bytes())
    sec = elf.section_by_name(".BTF")
    assert sec is not None
    compiled = Btf.parse(elf.section_data(sec))
    datasec = compiled.find(".bss.all", Kind.DATASEC)
    assert datasec is not None and len(datasec.secinfos) == len(wanted)
    mismatches = []
    for info in datasec.secinfos:
        var = compiled[info.type_id]
        original = btf[int(var.name.rsplit("_", 1)[1])]
        got = compiled.skip_modifiers(var.type_id)
        layout = [(m.name, m.bit_offset, m.bitfield_size) for m in original.members]
        if got.size != original.size or [(m.name, m.bit_offset, m.bitfield_size) for m in got.members] != layout:
            mismatches.append(original.name)
    return len(wanted) - len(mismatches) if not mismatches or mismatches == ["warn_args"] else -len(mismatches)


def _tricky() -> Btf:
    return Btf.from_types([
        BtfType(0, Kind.INT, "int", size=4, bits=32, encoding=1),                        # 1
        BtfType(0, Kind.INT, "unsigned char", size=1, bits=8),                            # 2
        BtfType(0, Kind.INT, "long long", size=8, bits=64, encoding=1),                   # 3
        BtfType(0, Kind.STRUCT, "dup", size=4, members=(Member("a", 1, 0),)),             # 4
        BtfType(0, Kind.STRUCT, "dup", size=8, members=(Member("b", 3, 0),)),             # 5 same name
        BtfType(0, Kind.ENUM, "", size=4, values=(EnumValue("SHARED", 1),)),              # 6 anonymous
        BtfType(0, Kind.ENUM, "small", size=1, values=(EnumValue("SHARED", 2),)),         # 7 packed, dup value
        BtfType(0, Kind.STRUCT, "packed", size=5, members=(Member("c", 2, 0), Member("d", 1, 8))),  # 8
        BtfType(0, Kind.STRUCT, "bits", size=16, kind_flag=True, members=(
            Member("x", 1, 0, 3), Member("y", 1, 3, 7), Member("e", 7, 16), Member("z", 3, 64))),   # 9
        BtfType(0, Kind.STRUCT, "holes", size=24, members=(Member("p", 2, 0), Member("q", 1, 64))),  # 10 padding
        BtfType(0, Kind.PTR, type_id=13),                                                 # 11 struct node *
        BtfType(0, Kind.TYPEDEF, "node_t", type_id=13),                                   # 12
        BtfType(0, Kind.STRUCT, "node", size=16, members=(Member("next", 11, 0), Member("d", 5, 64))),  # 13
    ])


@needs_zig
def test_tricky_types_compile_with_their_layout(tmp_path: Path) -> None:
    btf = _tricky()
    text = c_header(btf)
    assert "struct dup___2 {" in text and "SHARED___2 = 2" in text
    assert "__attribute__((packed))" in text
    assert _layout_check(btf, tmp_path, 1) == 6


@pytest.fixture(scope="module")
def vmlinux_h() -> str:
    return c_header(load_vmlinux())


@needs_zig
@needs_vmlinux
def test_vmlinux_header_layouts_sample(tmp_path: Path, vmlinux_h: str) -> None:
    assert _layout_check(load_vmlinux(), tmp_path, 40, vmlinux_h) > 200


@needs_zig
@needs_vmlinux
@pytest.mark.slow
def test_vmlinux_header_layouts_all(tmp_path: Path, vmlinux_h: str) -> None:
    # every struct/union of the running kernel's BTF compiles with its layout (a count is not frozen: builds differ)
    assert _layout_check(load_vmlinux(), tmp_path, 1, vmlinux_h) > 1000


@needs_zig
@needs_vmlinux
def test_core_program_against_generated_header(tmp_path: Path, vmlinux_h: str) -> None:
    (tmp_path / "vmlinux.h").write_text(vmlinux_h)
    obj = _compile(tmp_path, """
#include "vmlinux.h"
__attribute__((section("tp_btf/sched_switch"), used)) int on_switch(unsigned long long *ctx)
{
    struct task_struct *prev = (struct task_struct *)ctx[1];
    return prev->pid == -1;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
""")
    prog = load_file(obj).programs["on_switch"]
    from pybpf.btf.core import resolve

    (relo,) = resolve(prog)
    assert relo.local_value == relo.target_value  # the header reproduces the kernel's own layout
    task = load_vmlinux().find("task_struct", Kind.STRUCT)
    assert task is not None
    assert relo.target_value == next(m.bit_offset // 8 for m in task.members if m.name == "pid")


def _with_kfuncs() -> Btf:
    return Btf.from_types([
        BtfType(0, Kind.INT, "int", size=4, bits=32, encoding=1),                          # 1
        BtfType(0, Kind.STRUCT, "task", size=4, members=(Member("pid", 1, 0),)),            # 2
        BtfType(0, Kind.PTR, type_id=2),                                                    # 3
        BtfType(0, Kind.FUNC_PROTO, type_id=3, params=(Param("pid", 1),)),                  # 4
        BtfType(0, Kind.FUNC, "kf_task_by_pid", type_id=4),                                 # 5 kfunc
        BtfType(0, Kind.DECL_TAG, "bpf_kfunc", type_id=5, component_idx=-1),                # 6
        BtfType(0, Kind.FUNC_PROTO, type_id=0, params=(Param("t", 3),)),                    # 7
        BtfType(0, Kind.FUNC, "kf_fast", type_id=7),                                        # 8 kfunc
        BtfType(0, Kind.DECL_TAG, "bpf_kfunc", type_id=8, component_idx=-1),                # 9
        BtfType(0, Kind.DECL_TAG, "bpf_fastcall", type_id=8, component_idx=-1),             # 10
        BtfType(0, Kind.FUNC, "not_a_kfunc", type_id=4),                                    # 11 plain
    ])


def test_kfuncs_are_declared_as_weak_ksym_externs() -> None:
    text = c_header(_with_kfuncs())
    assert "extern struct task *kf_task_by_pid(int pid) __weak __ksym;" in text
    assert "extern void kf_fast(struct task *t) __weak __ksym __bpf_fastcall;" in text
    assert "not_a_kfunc" not in text
    # guarded as bpftool guards them, so a program can opt out
    assert text.index("#ifndef BPF_NO_KFUNC_PROTOTYPES") < text.index("kf_task_by_pid")


@needs_zig
def test_kfunc_prototypes_compile_and_call(tmp_path: Path) -> None:
    """A program calls a kfunc declared by the header; the call is an external .ksyms symbol."""
    (tmp_path / "vmlinux.h").write_text(c_header(_with_kfuncs()))
    obj = _compile(tmp_path, """
#include "vmlinux.h"
__attribute__((section("syscall"), used)) int prog(void *ctx)
{
    struct task *t = kf_task_by_pid(1);
    return t ? 1 : 0;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
""")
    elf = ElfFile(obj.read_bytes())
    names = {s.name for s in elf.symbols}
    assert "kf_task_by_pid" in names and "kf_fast" not in names  # only what the program uses


@needs_zig
@needs_vmlinux
def test_vmlinux_header_declares_the_kernels_kfuncs(tmp_path: Path, vmlinux_h: str) -> None:
    """Every kfunc the running kernel tags in its BTF is declared, and the header compiles."""
    vmlinux = load_vmlinux()
    funcs = {t.id: t.name for t in vmlinux if t.kind == Kind.FUNC}
    tagged = {funcs[t.type_id] for t in vmlinux
              if t.kind == Kind.DECL_TAG and t.name == "bpf_kfunc" and t.type_id in funcs}
    declared = {line.split("(")[0].split()[-1].lstrip("*")
                for line in vmlinux_h.splitlines() if line.endswith("__ksym;") or "__ksym " in line}
    assert tagged and tagged <= declared
    (tmp_path / "vmlinux.h").write_text(vmlinux_h)
    _compile(tmp_path, '#include "vmlinux.h"\nint x;\n')
