"""bpf_loop and bpf_for_each_map_elem from C: hand-computed results, and the kernel's."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from pybpf.cli.main import main

SOURCE = r"""
#include <bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

__u64 total = 0;
__u64 visited = 0;

struct loop_ctx { __u64 sum; __u32 stop; };

static long add_index(__u32 index, void *data)
{
	struct loop_ctx *c = data;
	c->sum += index * 3;
	return index == c->stop ? 1 : 0;
}

static long bump(void *map, __u32 *key, __u64 *value, void *data)
{
	*value += *key + 1;
	visited += 1;
	return *key == 2;
}

SEC("xdp")
int callbacks(struct xdp_md *ctx)
{
	struct loop_ctx c = { .sum = 0, .stop = 9 };
	long n = bpf_loop(20, add_index, &c, 0);
	long m = bpf_for_each_map_elem(&values, bump, 0, 0);
	total += c.sum + n * 1000 + m * 100000;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str) -> dict:
    import pybpf.toolchain as toolchain
    src = tmp_path / "callbacks.c"
    src.write_text(SOURCE)
    try:
        obj = toolchain.compile_c(src, tmp_path / "callbacks.o")
    except Exception as exc:  # noqa: BLE001 - no compiler here
        pytest.skip(f"cannot compile C here: {exc}")
    pkt = tmp_path / "pkt.bin"
    pkt.write_bytes(bytes(range(20)))
    status = main(["run", str(obj), "--engine", engine, "--json",  # pybpf's verifier first
                   "--data-in", str(pkt), "--data-in", str(pkt)])
    out, err = capsys.readouterr()
    assert status == 0, err
    result: dict = json.loads(out)
    return result


def test_callbacks_hand_computed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = _run(tmp_path, capsys, "interp")
    assert [r["retval"] for r in result["runs"]] == [2, 2]
    # per run: bpf_loop stops at index 9 (sum 3 * 45 = 135, 10 iterations);
    # for_each visits keys 0, 1, 2 (stops at 2) adding key + 1 to each value
    per_run = 135 + 10 * 1000 + 3 * 100000
    maps = {m["name"]: m["entries"] for m in result["maps"]}
    bss = bytes(int(b, 16) for b in maps[".bss"][0]["value"])
    assert struct.unpack("<QQ", bss) == (2 * per_run, 2 * 3)
    values = [struct.unpack("<Q", bytes(int(b, 16) for b in e["value"]))[0] for e in maps["values"]]
    assert values == [2, 4, 6, 0]


@pytest.mark.kernel
def test_callbacks_same_as_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ours = _run(tmp_path, capsys, "interp")
    theirs = _run(tmp_path, capsys, "kernel")
    assert {**ours, "engine": "kernel"} == theirs


TAIL_SOURCE = r"""
#include <bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} jmp SEC(".maps");

__u64 hits = 0;

SEC("xdp")
int target(struct xdp_md *ctx)
{
	hits += 1;
	return 1;
}

static __attribute__((noinline)) int sub(struct xdp_md *ctx)
{
	volatile int x = 3;
	bpf_tail_call(ctx, &jmp, 0);
	return x + 4;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	int r = sub(ctx);
	hits += 100;
	return r + 1;
}

char LICENSE[] SEC("license") = "GPL";
"""


def _tail_call_results(tmp_path: Path, engine: str) -> list[tuple[int, bytes]]:
    import pybpf.toolchain as toolchain
    from pybpf.engines import Runtime
    from pybpf.object import load_file

    src = tmp_path / "tail.c"
    src.write_text(TAIL_SOURCE)
    try:
        obj = toolchain.compile_c(src, tmp_path / "tail.o")
    except Exception as exc:  # noqa: BLE001 - no compiler here
        pytest.skip(f"cannot compile C here: {exc}")
    results = []
    with Runtime(engine, verify=False).load(load_file(str(obj))) as col:
        results.append((col.programs["entry"].run(bytes(20)).retval, col.maps[".bss"][0]))
        target = col.programs["target"]
        col.maps["jmp"][0] = target.fd if engine == "kernel" else target  # type: ignore[attr-defined]
        results.append((col.programs["entry"].run(bytes(20)).retval, col.maps[".bss"][0]))
    return results


def test_tail_call_from_a_subprogram_returns_to_its_caller(tmp_path: Path) -> None:
    # empty slot: sub returns 3 + 4, entry 8; then the target's 1 comes back as sub's value
    assert _tail_call_results(tmp_path, "interp") == [
        (8, struct.pack("<Q", 100)),
        (2, struct.pack("<Q", 201)),
    ]


@pytest.mark.kernel
def test_tail_call_from_a_subprogram_same_as_kernel(tmp_path: Path) -> None:
    assert _tail_call_results(tmp_path, "interp") == _tail_call_results(tmp_path, "kernel")
