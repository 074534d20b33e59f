"""Object loader: programs by section, sub-program linking, maps, global data, relocations, errors."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pybpf.abi import AttachType, MapType, ProgramType
from pybpf.errors import ObjectError
from pybpf.isa.opcodes import CALL, LDDW
from pybpf.object import MapReference, load_bytes, load_file
from pybpf.object.elf import ElfFile

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"


def _load(name: str):
    return load_file(OBJECTS / name)


def _insn_at(prog, pc: int):
    slot = 0
    for insn in prog.instructions:
        if slot == pc:
            return insn
        slot += insn.slots
    raise AssertionError(f"no instruction at pc {pc}")


def _call_targets(prog) -> list[tuple[int, int]]:
    out, pc = [], 0
    for insn in prog.instructions:
        if (insn.opcode == CALL and insn.src == 1) or (insn.opcode == LDDW and insn.src == 4):
            out.append((pc, pc + insn.imm + 1))
        pc += insn.slots
    return out


def test_programs_keyed_by_function_with_section_and_type() -> None:
    spec = _load("xdp_counter.o")
    assert set(spec.programs) == {"count_packets", "pass_all", "tc_prog"}
    p = spec.programs["count_packets"]
    assert (p.section, p.type, p.attach_type) == ("xdp", ProgramType.XDP, AttachType.XDP)
    assert spec.programs["tc_prog"].type == ProgramType.SCHED_CLS
    assert spec.license == "Dual MIT/GPL" and p.license == "Dual MIT/GPL"
    assert "helper" not in spec.programs  # a static sub-program in .text


def test_btf_maps() -> None:
    maps = _load("xdp_counter.o").maps
    counts = maps["counts"]
    assert (counts.type, counts.key_size, counts.value_size, counts.max_entries) == (MapType.ARRAY, 4, 8, 4)
    assert counts.section == ".maps" and counts.key_type_id and counts.value_type_id
    by_ip = maps["by_ip"]
    assert (by_ip.type, by_ip.key_size, by_ip.value_size, by_ip.max_entries) == (MapType.HASH, 8, 4, 1024)
    assert (by_ip.flags, by_ip.pinning) == (1, 1)


def test_global_data_maps() -> None:
    maps = _load("xdp_counter.o").maps
    data, rodata, bss, custom = maps[".data"], maps[".rodata"], maps[".bss"], maps[".data.custom"]
    for m in (data, rodata, bss, custom):
        assert (m.type, m.key_size, m.max_entries) == (MapType.ARRAY, 4, 1)
        assert m.contents[0][0] == bytes(4) and len(m.contents[0][1]) == m.value_size
    assert data.contents[0][1] == struct.pack("<i", 5)
    assert rodata.contents[0][1] == struct.pack("<i", 7) and rodata.frozen
    assert bss.contents[0][1] == bytes(4) and not bss.frozen
    assert custom.contents[0][1] == b"custom".ljust(16, b"\0")


def test_map_references_patch_lddw() -> None:
    p = _load("xdp_counter.o").programs["count_packets"]
    refs = {r.map_name: r for r in p.map_references}
    assert set(refs) == {"counts", ".bss", ".data", ".rodata", ".data.custom"}
    assert refs["counts"].kind == "fd"
    for name in (".bss", ".data", ".rodata", ".data.custom"):
        assert refs[name].kind == "value"
    for r in p.map_references:
        insn = _insn_at(p, r.pc)
        assert insn.opcode == LDDW
        assert insn.src == (1 if r.kind == "fd" else 2)


def test_subprogram_linked_into_each_caller() -> None:
    spec = _load("xdp_counter.o")
    for name in ("count_packets", "pass_all"):
        p = spec.programs[name]
        targets = _call_targets(p)
        assert len(targets) == 1
        # The callee is the appended copy of `helper`, which BTF func_info marks as a function start.
        starts = {fi.insn_off for fi in p.func_infos}
        assert targets[0][1] in starts and 0 in starts
        # helper reads .rodata and .data through its own lddws, relocated at their linked pcs.
        assert {r.map_name for r in p.map_references if r.pc >= targets[0][1]} == {".rodata", ".data"}


def test_nested_calls_global_function_and_callback() -> None:
    spec = _load("calls.o")
    caller = spec.programs["caller"]
    assert set(spec.programs) == {"caller", "other"}
    starts = {fi.insn_off for fi in caller.func_infos}
    targets = _call_targets(caller)
    assert len(starts) == 5  # caller, cb, global_fn, middle, leaf
    assert {t for _, t in targets} == starts - {0}
    total = sum(i.slots for i in caller.instructions)
    assert all(0 <= t < total for _, t in targets)
    # the bpf_loop callback is passed as a BPF_PSEUDO_FUNC lddw
    assert any(i.opcode == LDDW and i.src == 4 for i in caller.instructions)
    other = spec.programs["other"]
    assert len(_call_targets(other)) == 1 and len(other.func_infos) == 2


def test_line_infos_follow_linked_code() -> None:
    p = _load("calls.o").programs["caller"]
    total = sum(i.slots for i in p.instructions)
    assert p.line_infos and all(0 <= li.insn_off < total for li in p.line_infos)
    assert all(li.file_name.endswith("calls.c") for li in p.line_infos)
    assert list(p.line_infos) == sorted(p.line_infos, key=lambda li: li.insn_off)


def test_legacy_maps_and_version() -> None:
    spec = _load("legacy_maps.o")
    h, a = spec.maps["legacy_hash"], spec.maps["legacy_array"]
    assert (h.type, h.key_size, h.value_size, h.max_entries, h.section) == (MapType.HASH, 4, 8, 128, "maps")
    assert (a.type, a.key_size, a.value_size, a.max_entries) == (MapType.ARRAY, 4, 16, 8)
    p = spec.programs["sock_prog"]
    assert p.type == ProgramType.SOCKET_FILTER and p.kernel_version == 0x060C00
    assert {r.map_name for r in p.map_references} == {"legacy_hash", "legacy_array"}


def test_map_in_map_and_prog_array_slots() -> None:
    spec = _load("map_in_map.o")
    outer = spec.maps["outer"]
    assert outer.type == MapType.ARRAY_OF_MAPS and outer.inner_map is not None
    assert (outer.inner_map.type, outer.inner_map.key_size, outer.inner_map.value_size) == (MapType.ARRAY, 4, 4)
    assert outer.initial_slots == ((0, "inner_a"), (2, "inner_b"))
    jumps = spec.maps["jumps"]
    assert jumps.type == MapType.PROG_ARRAY and jumps.initial_slots == ((1, "tail_a"),)
    assert set(spec.programs) == {"tail_a", "entry"}
    assert MapReference in {type(r) for r in spec.programs["entry"].map_references}


SECTIONS = {
    "p_xdp_frags": (ProgramType.XDP, AttachType.XDP, ""),
    "p_tcx_ingress": (ProgramType.SCHED_CLS, AttachType.TCX_INGRESS, ""),
    "p_classifier": (ProgramType.SCHED_CLS, None, ""),
    "p_socket": (ProgramType.SOCKET_FILTER, None, ""),
    "p_tracepoint": (ProgramType.TRACEPOINT, None, "syscalls/sys_enter_openat"),
    "p_tp": (ProgramType.TRACEPOINT, None, "sched/sched_switch"),
    "p_raw_tp": (ProgramType.RAW_TRACEPOINT, None, "sys_enter"),
    "p_raw_tracepoint": (ProgramType.RAW_TRACEPOINT, None, "sched_switch"),
    "p_tp_btf": (ProgramType.TRACING, AttachType.TRACE_RAW_TP, "sched_wakeup"),
    "p_uprobe": (ProgramType.KPROBE, None, "/bin/true:main"),
    "p_uretprobe": (ProgramType.KPROBE, None, "libc.so.6:malloc"),
    "p_uprobe_s": (ProgramType.KPROBE, None, "libc.so.6:free"),
    "p_kprobe": (ProgramType.KPROBE, None, "do_sys_open"),
    "p_kretprobe": (ProgramType.KPROBE, None, "do_sys_open"),
    "p_fentry": (ProgramType.TRACING, AttachType.TRACE_FENTRY, "do_unlinkat"),
    "p_fexit": (ProgramType.TRACING, AttachType.TRACE_FEXIT, "do_unlinkat"),
    "p_fmod_ret": (ProgramType.TRACING, AttachType.MODIFY_RETURN, "security_file_open"),
    "p_lsm": (ProgramType.LSM, AttachType.LSM_MAC, "file_open"),
    "p_iter": (ProgramType.TRACING, AttachType.TRACE_ITER, "task"),
    "p_cgroup_skb_ingress": (ProgramType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS, ""),
    "p_cgroup_skb_egress": (ProgramType.CGROUP_SKB, AttachType.CGROUP_INET_EGRESS, ""),
    "p_cgroup_skb": (ProgramType.CGROUP_SKB, None, ""),
    "p_cgroup_sock": (ProgramType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_CREATE, ""),
    "p_cgroup_sysctl": (ProgramType.CGROUP_SYSCTL, AttachType.CGROUP_SYSCTL, ""),
    "p_connect4": (ProgramType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_CONNECT, ""),
    "p_connect6": (ProgramType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET6_CONNECT, ""),
    "p_perf_event": (ProgramType.PERF_EVENT, None, ""),
    "p_sk_skb_parser": (ProgramType.SK_SKB, AttachType.SK_SKB_STREAM_PARSER, ""),
    "p_sk_skb_verdict": (ProgramType.SK_SKB, AttachType.SK_SKB_STREAM_VERDICT, ""),
    "p_sk_msg": (ProgramType.SK_MSG, AttachType.SK_MSG_VERDICT, ""),
    "p_sockops": (ProgramType.SOCK_OPS, AttachType.CGROUP_SOCK_OPS, ""),
    "p_flow_dissector": (ProgramType.FLOW_DISSECTOR, AttachType.FLOW_DISSECTOR, ""),
    "p_struct_ops": (ProgramType.STRUCT_OPS, None, "test_1"),
    "p_syscall": (ProgramType.SYSCALL, None, ""),
    "p_netfilter": (ProgramType.NETFILTER, AttachType.NETFILTER, ""),
    "p_sk_lookup": (ProgramType.SK_LOOKUP, AttachType.SK_LOOKUP, ""),
    "p_lwt_in": (ProgramType.LWT_IN, None, ""),
    "p_xdp_devmap": (ProgramType.XDP, AttachType.XDP_DEVMAP, ""),
}


def test_section_conventions() -> None:
    programs = _load("sections.o").programs
    assert set(programs) == set(SECTIONS)
    for name, (ptype, atype, target) in SECTIONS.items():
        p = programs[name]
        assert (p.type, p.attach_type, p.attach_to) == (ptype, atype, target), name
    assert programs["p_uprobe_s"].sleepable and programs["p_syscall"].sleepable
    assert not programs["p_uprobe"].sleepable


def _relocation_entry(data: bytes, target: str) -> int:
    elf = ElfFile(data)
    rel = next(r for r, t in elf.relocation_sections() if t.name == target)
    return rel.offset


def test_unknown_relocation_type_is_an_error() -> None:
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    off = _relocation_entry(bytes(data), "socket")
    info = struct.unpack_from("<Q", data, off + 8)[0]
    struct.pack_into("<Q", data, off + 8, (info & ~0xFFFFFFFF) | 77)
    with pytest.raises(ObjectError, match="unknown relocation type 77"):
        load_bytes(bytes(data), "bad.o")


def test_relocation_on_wrong_instruction_is_an_error() -> None:
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    off = _relocation_entry(bytes(data), "socket")
    struct.pack_into("<Q", data, off, 0)  # point the map relocation at the first instruction
    with pytest.raises(ObjectError, match="neither lddw nor call"):
        load_bytes(bytes(data), "bad.o")


def test_broken_bytecode_is_an_object_error() -> None:
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    sec = ElfFile(bytes(data)).section_by_name("socket")
    assert sec is not None
    data[sec.offset + sec.size - 8] = 0x18  # an lddw in the last slot has no second half
    with pytest.raises(ObjectError, match="socket"):
        load_bytes(bytes(data), "bad.o")


def test_missing_file_is_oserror() -> None:
    with pytest.raises(OSError):
        load_file(OBJECTS / "does-not-exist.o")


def test_string_literals_through_section_symbol_offsets() -> None:
    spec = _load("strings.o")
    strs = spec.maps[".rodata.str1.1"]
    assert strs.frozen and strs.type == MapType.ARRAY
    value = strs.contents[0][1]
    refs = [r for r in spec.programs["say"].map_references if r.map_name == ".rodata.str1.1"]
    assert sorted(value[r.offset :].split(b"\0", 1)[0] for r in refs) == [b"first %d\n", b"second %d\n"]
    prog = spec.programs["say"]
    for r in refs:
        insn = _insn_at(prog, r.pc)
        assert insn.src == 2 and insn.imm >> 32 == r.offset  # offset in the lddw's second half
    table = next(r for r in prog.map_references if r.map_name == ".data")
    assert spec.maps[".data"].contents[0][1][table.offset : table.offset + 12] == struct.pack("<3i", 1, 2, 3)


def test_extern_function_calls_are_recorded() -> None:
    prog = _load("kfunc.o").programs["use_kfunc"]
    assert [name for _, name in prog.extern_calls] == ["bpf_cast_to_kern_ctx", "pybpf_no_such_kfunc"]
    for pc, _ in prog.extern_calls:
        assert _insn_at(prog, pc).opcode == CALL


@pytest.mark.skipif(not Path("/sys/kernel/btf/vmlinux").exists(), reason="no kernel BTF here")
def test_kernel_symbols_resolved_against_vmlinux() -> None:
    from pybpf.kernel.vmlinux import vmlinux_index

    index = vmlinux_index()  # an independent minimal parser of the kernel's BTF
    prog = _load("kfunc.o").programs["use_kfunc"]
    (pc_kfunc, _), (pc_weak, _) = prog.extern_calls
    kfunc = _insn_at(prog, pc_kfunc)
    assert (kfunc.src, kfunc.off, kfunc.imm) == (2, 0, index[(12, "bpf_cast_to_kern_ctx")])
    weak = _insn_at(prog, pc_weak)
    assert (weak.src, weak.imm) == (2, 0)  # absent kfunc: id 0, accepted by the kernel only as dead code
    weak_addr = [i for i in prog.instructions if i.opcode == LDDW]
    assert [(i.src, i.imm) for i in weak_addr] == [(0, 0)]  # `if (pybpf_no_such_kfunc)` tests 0
    ksym = _load("ksym.o").programs["use_ksym"]
    lddw = next(i for i in ksym.instructions if i.opcode == LDDW)
    assert (lddw.src, lddw.imm) == (3, index[(14, "runqueues")])


def test_legacy_map_in_map_inner_index() -> None:
    from testlib import shared_path

    maps = load_file(shared_path("ebpf-samples", "build", "map_in_map_legacy.o")).maps
    outer = maps["array_of_maps"]
    assert outer.type == MapType.ARRAY_OF_MAPS and outer.inner_map == maps["inner_map"]


def test_ring_buffer_and_perf_event_array_sizes_normalised() -> None:
    from testlib import shared_path

    ring = load_file(shared_path("ebpf-samples", "cilium-examples", "ringbuffer_bpf_bpfel.o")).maps["events"]
    assert (ring.type, ring.key_size, ring.value_size) == (MapType.RINGBUF, 0, 0)
    assert ring.value_type_id  # the declared event type is kept for printing records
    perf = load_file(shared_path("ebpf-samples", "cilium-examples", "uretprobe_bpf_x86_bpfel.o")).maps["events"]
    assert (perf.type, perf.key_size, perf.value_size) == (MapType.PERF_EVENT_ARRAY, 4, 4)


def test_map_extra_and_static_function_in_program_section() -> None:
    spec = _load("map_extra.o")
    bloom = spec.maps["bloom"]
    assert (bloom.type, bloom.value_size, bloom.max_entries, bloom.map_extra) == (MapType.BLOOM_FILTER, 4, 256, 3)
    assert set(spec.programs) == {"uses_bloom"}  # `twice` is a sub-program called from its section
    prog = spec.programs["uses_bloom"]
    assert len(_call_targets(prog)) == 1 and len(prog.func_infos) == 2


def test_struct_ops_variable_becomes_a_map_naming_its_programs() -> None:
    spec = _load("struct_ops.o")
    assert {p.type for p in spec.programs.values()} == {ProgramType.STRUCT_OPS}
    cc = spec.maps["pybpf_cc"]
    assert (cc.type, cc.key_size, cc.max_entries, cc.section) == (MapType.STRUCT_OPS, 4, 1, ".struct_ops.link")
    assert cc.flags == 1 << 13  # BPF_F_LINK for .struct_ops.link
    ops = spec.btf[cc.value_type_id]
    assert ops.name == "tcp_congestion_ops" and cc.value_size == ops.size
    members = [m.name for m in ops.members]
    assert {members[i]: prog for i, prog in cc.initial_slots} == {
        "init": "pybpf_init", "ssthresh": "pybpf_ssthresh", "undo_cwnd": "pybpf_undo"}
    name_at = next(m.bit_offset // 8 for m in ops.members if m.name == "name")
    assert cc.contents[0][1][name_at : name_at + 9] == b"pybpf_cc\0"
