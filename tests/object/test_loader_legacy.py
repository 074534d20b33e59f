"""Loader gaps seen on real objects: R_BPF_NONE relocations, helper-named externs, the object's own license."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pybpf.errors import VerifierError
from pybpf.isa.opcodes import CALL, LDDW
from pybpf.object import load_bytes, load_file
from pybpf.runtime import Runtime
from pybpf.toolchain import compile_c, zig_available
from testlib import shared_path

VMLINUX = Path("/sys/kernel/btf/vmlinux")
needs_zig = pytest.mark.skipif(not zig_available(), reason="ziglang is not installed")

MAP_PROG = r"""
#include <bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
SEC("xdp") int count(struct xdp_md *ctx)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&counts, &k);
    if (v)
        __sync_fetch_and_add(v, 1);
    return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


def _compile(tmp_path: Path, source: str, name: str = "p") -> bytes:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    return compile_c(src, tmp_path / f"{name}.o").read_bytes()


def _with_relocation_type(obj: bytes, new_type: int) -> bytes:
    """The object with every REL/RELA entry's type set to `new_type` (as old LLVM wrote R_BPF_NONE)."""
    out = bytearray(obj)
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    for i in range(shnum):
        base = shoff + i * shentsize
        sh_type, = struct.unpack_from("<I", obj, base + 4)
        offset, size = struct.unpack_from("<QQ", obj, base + 0x18)
        entsize, = struct.unpack_from("<Q", obj, base + 0x38)
        if sh_type not in (4, 9) or not entsize:  # SHT_RELA, SHT_REL
            continue
        for at in range(offset, offset + size, entsize):
            info, = struct.unpack_from("<Q", obj, at + 8)
            struct.pack_into("<Q", out, at + 8, (info & ~0xFFFFFFFF) | new_type)
    return bytes(out)


@needs_zig
def test_r_bpf_none_relocations_still_name_the_map(tmp_path: Path) -> None:
    obj = _compile(tmp_path, MAP_PROG)
    normal = load_bytes(obj, "normal.o").programs["count"]
    legacy = load_bytes(_with_relocation_type(obj, 0), "legacy.o").programs["count"]
    assert [(r.pc, r.map_name) for r in normal.map_references] == [(r.pc, "counts") for r in normal.map_references]
    assert legacy.map_references == normal.map_references
    assert legacy.instructions == normal.instructions


def test_ovs_datapath_map_loads_are_relocated() -> None:
    """ovs datapath.o (e_machine EM_NONE, every relocation R_BPF_NONE): each lddw of a map is one."""
    spec = load_file(shared_path("ebpf-samples", "ovs", "datapath.o"))
    prog = spec.programs["tail-33"]
    names = [r.map_name for r in prog.map_references]
    # readelf -r lists 9 relocations in .reltail-33, all against maps
    assert len(names) == 9
    assert {"percpu_headers", "percpu_metadata", "flow_table", "tailcalls", "datapath_stats"} <= set(names)
    at_pc, pc = {}, 0
    for insn in prog.instructions:
        at_pc[pc] = insn
        pc += insn.slots
    for ref in prog.map_references:
        assert at_pc[ref.pc].opcode == LDDW and at_pc[ref.pc].src == 1  # BPF_PSEUDO_MAP_FD


EXTERN_HELPER = r"""
typedef unsigned int __u32;
typedef unsigned long long __u64;
extern void *bpf_map_lookup_elem(void *map, const void *key);
extern __u64 bpf_ktime_get_ns(void);
struct { int (*type)[2]; int (*max_entries)[1]; __u32 *key; __u64 *value; } vals __attribute__((section(".maps"), used));
__attribute__((section("xdp"), used)) int prog(void *ctx)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&vals, &k);
    return v ? (int)bpf_ktime_get_ns() & 1 : 2;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"""


@needs_zig
@pytest.mark.skipif(not VMLINUX.exists(), reason="no kernel BTF (enum bpf_func_id) on this machine")
def test_extern_named_like_a_helper_calls_that_helper(tmp_path: Path) -> None:
    spec = load_bytes(_compile(tmp_path, EXTERN_HELPER), "extern_helper.o")
    prog = spec.programs["prog"]
    calls = [(i.src, i.imm) for i in prog.instructions if i.opcode == CALL]
    assert calls == [(0, 1), (0, 5)]  # enum bpf_func_id: map_lookup_elem 1, ktime_get_ns 5
    assert [r.map_name for r in prog.map_references] == ["vals"]


NO_LICENSE = r"""
#include <bpf_helpers.h>
SEC("socket") int printer(struct __sk_buff *skb)
{
    bpf_printk("hi");
    return 0;
}
"""


@needs_zig
@pytest.mark.kernel
def test_kernel_engine_passes_the_objects_own_license(tmp_path: Path) -> None:
    """No license section: the kernel sees no GPL and refuses the GPL-only bpf_trace_printk."""
    unlicensed = load_bytes(_compile(tmp_path, NO_LICENSE, "nolic"), "nolic.o")
    assert unlicensed.programs["printer"].license == ""
    with pytest.raises(VerifierError, match="GPL-restricted"):
        Runtime(engine="kernel", verify=False, pin_path=None).load(unlicensed)
    licensed = load_bytes(_compile(tmp_path, NO_LICENSE + 'char LICENSE[] SEC("license") = "GPL";\n', "lic"),
                          "lic.o")
    col = Runtime(engine="kernel", verify=False, pin_path=None).load(licensed)
    col.close()
