"""Skeleton conveniences on specs (map sizes, autoload, .rodata) in the API, on the CLI, and `attach --auto` choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.abi import ProgramType
from pybpf.cli.main import main
from pybpf.errors import BpfError, LoadError
from pybpf.kernel.autoselect import hook_of, one_per_hook
from pybpf.object import load_file
from pybpf.runtime import Runtime
from pybpf.toolchain import compile_c, zig_available

pytestmark = pytest.mark.skipif(not zig_available(), reason="ziglang is not installed")

SKELETON_C = r"""
#include <bpf_helpers.h>
/* sized from user space, as libbpf-tools do: max_entries 0 in the object */
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64); } seen SEC(".maps");
const volatile __u32 verdict = XDP_PASS;

SEC("xdp") int pick(struct xdp_md *ctx)
{
    __u32 k = 1;
    __u64 one = 1;
    bpf_map_update_elem(&seen, &k, &one, BPF_ANY);
    return verdict;
}
SEC("xdp") int other(struct xdp_md *ctx) { return XDP_DROP; }
char LICENSE[] SEC("license") = "GPL";
"""

ALTERNATIVES_C = r"""
#include <bpf_helpers.h>
#include <bpf_tracing.h>
SEC("tp_btf/sched_switch") int BPF_PROG(on_switch_btf, bool preempt) { return 0; }
SEC("raw_tp/sched_switch") int BPF_PROG(on_switch_raw, bool preempt) { return 0; }
SEC("tp/sched/sched_switch") int on_switch_tp(void *ctx) { return 0; }
SEC("raw_tp/sched_wakeup") int BPF_PROG(on_wakeup) { return 0; }
SEC("raw_tp/sched_wakeup") int BPF_PROG(on_wakeup_too) { return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def skeleton_obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("skel")
    (d / "skel.c").write_text(SKELETON_C)
    return compile_c(d / "skel.c", d / "skel.o")


def test_specs_are_copied_not_changed(skeleton_obj: Path) -> None:
    spec = load_file(skeleton_obj)
    assert spec.maps["seen"].max_entries == 0
    sized = spec.with_map_size("seen", 64)
    assert sized.maps["seen"].max_entries == 64 and spec.maps["seen"].max_entries == 0
    off = spec.with_autoload("other", False)
    assert not off.programs["other"].autoload and spec.programs["other"].autoload
    dropped = spec.with_globals({"verdict": 1})
    assert dropped.maps[".rodata"].contents != spec.maps[".rodata"].contents


def test_bad_names_and_sizes_are_load_errors(skeleton_obj: Path) -> None:
    spec = load_file(skeleton_obj)
    with pytest.raises(LoadError, match="no map 'nope'"):
        spec.with_map_size("nope", 1)
    with pytest.raises(LoadError, match="max_entries"):
        spec.with_map_size("seen", 0)
    with pytest.raises(LoadError, match="no program 'nope'"):
        spec.with_autoload("nope", False)
    with pytest.raises(LoadError, match="no global variable 'nope'"):
        spec.with_globals({"nope": 1})


def test_interp_runs_the_configured_collection(skeleton_obj: Path) -> None:
    spec = load_file(skeleton_obj).with_map_size("seen", 8).with_autoload("other", False)
    col = Runtime("interp").load(spec.with_globals({"verdict": 1}))  # XDP_DROP
    try:
        assert set(col.programs) == {"pick"}
        assert col.programs["pick"].run(bytes(64)).retval == 1
    finally:
        col.close()


@pytest.mark.kernel
def test_kernel_needs_the_size_the_object_leaves_open(skeleton_obj: Path) -> None:
    spec = load_file(skeleton_obj)
    with pytest.raises(BpfError):
        Runtime("kernel", verify=False, pin_path=None).load(spec).close()  # max_entries 0: EINVAL
    col = Runtime("kernel", verify=False, pin_path=None).load(
        spec.with_map_size("seen", 4).with_autoload("other", False).with_globals({"verdict": 3}))
    try:
        assert set(col.programs) == {"pick"}
        assert col.programs["pick"].run(bytes(64)).retval == 3  # XDP_TX from .rodata
        assert col.maps["seen"].max_entries == 4
    finally:
        col.close()


def test_cli_run_takes_skeleton_options(skeleton_obj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = skeleton_obj.parent / "pkt.bin"
    data.write_bytes(bytes(64))
    status = main(["run", str(skeleton_obj), "--no-autoload", "other", "--map-size", "seen=16",
                   "--set", "verdict=1", "--data-in", str(data), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and out["program"] == "pick" and out["runs"][0]["retval"] == 1
    assert main(["run", str(skeleton_obj), "--map-size", "seen=lots", "--program", "pick"]) != 0
    assert "--map-size seen: 'lots' is not an integer" in capsys.readouterr().err


def test_attach_auto_keeps_one_alternative_per_hook(tmp_path: Path) -> None:
    (tmp_path / "alt.c").write_text(ALTERNATIVES_C)
    spec = load_file(compile_c(tmp_path / "alt.c", tmp_path / "alt.o"))
    assert {hook_of(p) for p in spec.programs.values()} == {("tracepoint", "sched_switch"),
                                                            ("tracepoint", "sched_wakeup")}

    def everything(ptype: ProgramType) -> tuple[bool, str]:
        return True, ""

    def no_tracing(ptype: ProgramType) -> tuple[bool, str]:
        return (False, "EPERM") if ptype == ProgramType.TRACING else (True, "")

    chosen, notes = one_per_hook(spec, everything)
    assert {n for n, p in chosen.programs.items() if p.autoload} == {"on_switch_btf", "on_wakeup", "on_wakeup_too"}
    assert len(notes) == 2
    chosen, notes = one_per_hook(spec, no_tracing)
    assert {n for n, p in chosen.programs.items() if p.autoload} == {"on_switch_raw", "on_wakeup", "on_wakeup_too"}
    assert any("on_switch_btf" in n and "EPERM" in n for n in notes)


COUNTING_C = r"""
#include <bpf_helpers.h>
#include <bpf_tracing.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } switches SEC(".maps");
static __always_inline void count(void)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&switches, &k);
    if (v)
        __sync_fetch_and_add(v, 1);
}
SEC("tp_btf/sched_switch") int BPF_PROG(switch_btf, bool preempt) { count(); return 0; }
SEC("raw_tp/sched_switch") int BPF_PROG(switch_raw, bool preempt) { count(); return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.kernel
def test_cli_attach_auto_attaches_one_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "count.c").write_text(COUNTING_C)
    obj = compile_c(tmp_path / "count.c", tmp_path / "count.o")
    status = main(["attach", str(obj), "--auto", "--duration", "0.3", "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    attached = [line.split()[1] for line in captured.err.splitlines() if line.startswith("attached ")]
    assert len(attached) == 1 and attached[0] in ("switch_btf", "switch_raw")
    maps = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    assert any(m.get("name") == "switches" and m["entries"] for m in maps)  # sched_switch fired and counted


def test_map_value_size_for_stack_depth(skeleton_obj: Path) -> None:
    spec = load_file(skeleton_obj)
    deeper = spec.with_map_value_size("seen", 16)
    assert deeper.maps["seen"].value_size == 16 and spec.maps["seen"].value_size == 8
    with pytest.raises(LoadError, match="value_size"):
        spec.with_map_value_size("seen", 0)
