"""`pybpf run`: assembly, raw bytecode and C/ELF objects, text and JSON output, error exits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.cli.main import main
from pybpf.isa import assemble, encode

C_SOURCE = r"""
#include <bpf_helpers.h>

__u64 packets = 0;
const volatile __u32 answer = 42;

static __attribute__((noinline)) int twice(int x) { return x * 2; }

SEC("xdp")
int count_and_pass(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	packets += 1;
	if (data + 1 > data_end)
		return XDP_DROP;
	__u8 first = *(__u8 *)data;
	int sum = 0;
	for (int i = 0; i < 8; i++)
		sum += twice(i);
	return first == 0xff ? XDP_DROP : (sum == 56 && answer == 42 ? XDP_PASS : XDP_ABORTED);
}

char LICENSE[] SEC("license") = "GPL";
"""


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_run_assembly_prints_r0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "p.s"
    src.write_text("mov %r0, 42\nexit\n")
    assert cli(capsys, "run", str(src)) == (0, "42\n", "")
    status, out, _ = cli(capsys, "run", str(src), "--json")
    assert status == 0 and json.loads(out) == {"retval": 42}


def test_run_with_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "p.asm"
    src.write_text("r0 = *(u32 *)(r1 + 0)\nr0 += r2\nexit\n")  # LLVM syntax, detected
    mem = tmp_path / "mem.bin"
    mem.write_bytes(b"\x10\x00\x00\x00\xff")
    status, out, _ = cli(capsys, "run", str(src), "--mem", str(mem), "--json")
    assert status == 0 and json.loads(out) == {"retval": 0x10 + 5}


def test_run_raw_bytecode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "p.bin"
    raw.write_bytes(encode(assemble("lddw %r0, 0x1122334455667788\nexit", syntax="ubpf")))
    assert cli(capsys, "run", str(raw))[1] == f"{0x1122334455667788}\n"


def test_run_assembly_as_xdp_with_data_in(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "x.s"
    src.write_text("r0 = 2\nexit\n")
    pkt = tmp_path / "pkt.bin"
    pkt.write_bytes(bytes(range(14)))
    status, out, _ = cli(capsys, "run", str(src), "--type", "xdp", "--data-in", str(pkt), "--json")
    assert status == 0
    assert json.loads(out) == {
        "program": "x", "engine": "interp",
        "runs": [{"retval": 2, "data_out": bytes(range(14)).hex()}], "maps": [],
    }


def test_run_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli(capsys, "run", str(tmp_path / "missing.s"))
    assert status == 2 and "missing.s" in err and "Traceback" not in err
    bad = tmp_path / "bad.s"
    bad.write_text("mov %r0, \n")
    status, _, err = cli(capsys, "run", str(bad))
    assert status == 2 and err.count("\n") == 1
    fault = tmp_path / "fault.s"
    fault.write_text("ldxw %r0, [%r1+0]\nexit\n")
    status, _, err = cli(capsys, "run", str(fault))
    assert status == 2 and "pc 0" in err and "0x0" in err
    assert "[r0 = *(u32 *)(r1 + 0x0)]" in err  # the faulting instruction is shown
    loop = tmp_path / "loop.s"
    loop.write_text("mov %r0, 0\nl:\nadd %r0, 1\nja l\nexit\n")
    status, _, err = cli(capsys, "run", str(loop))
    assert status == 2 and "budget" in err


def _compiled(tmp_path: Path) -> Path:
    import pybpf.toolchain as toolchain
    src = tmp_path / "count.c"
    src.write_text(C_SOURCE)
    try:
        return Path(toolchain.compile_c(src, tmp_path / "count.o"))
    except Exception as exc:  # noqa: BLE001 - no compiler on this machine
        pytest.skip(f"cannot compile C here: {exc}")


def _runs_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], target: Path,
               engine: str = "interp") -> dict:
    p1, p2 = tmp_path / "p1.bin", tmp_path / "p2.bin"
    p1.write_bytes(bytes(range(20)))
    p2.write_bytes(b"\xff" * 20)
    status, out, err = cli(capsys, "run", str(target), "--engine", engine, "--data-in", str(p1),
                           "--data-in", str(p2), "--json")
    assert status == 0, err
    result: dict = json.loads(out)
    return result


ZERO_KEY = ["0x00"] * 4
EXPECTED_MAPS = [  # bpftool's schema: bytes, and the values decoded through the object's BTF
    {"name": ".bss", "type": "array", "entries": [
        {"key": ZERO_KEY, "value": ["0x02"] + ["0x00"] * 7,
         "formatted": {"key": 0, "value": {"packets": 2}}}]},
    {"name": ".rodata", "type": "array", "entries": [
        {"key": ZERO_KEY, "value": ["0x2a"] + ["0x00"] * 3,
         "formatted": {"key": 0, "value": {"answer": 42}}}]},
]


def test_run_object_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    obj = _compiled(tmp_path)
    result = _runs_json(tmp_path, capsys, obj)
    assert result == {
        "program": "count_and_pass",
        "engine": "interp",
        "runs": [
            {"retval": 2, "data_out": bytes(range(20)).hex()},
            {"retval": 1, "data_out": "ff" * 20},
        ],
        "maps": EXPECTED_MAPS,
    }
    status, out, _ = cli(capsys, "run", str(obj), "--data-in", str(tmp_path / "p1.bin"))
    assert status == 0 and "retval 2 (XDP_PASS)" in out and "map .bss" in out


def test_run_c_source_directly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _compiled(tmp_path)  # skips without a compiler
    result = _runs_json(tmp_path, capsys, tmp_path / "count.c")
    assert [r["retval"] for r in result["runs"]] == [2, 1]


@pytest.mark.kernel
def test_run_object_same_json_as_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    obj = _compiled(tmp_path)
    ours = _runs_json(tmp_path, capsys, obj)
    theirs = _runs_json(tmp_path, capsys, obj, engine="kernel")
    assert {**ours, "engine": "kernel"} == theirs


def test_run_program_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    obj = _compiled(tmp_path)
    status, _, err = cli(capsys, "run", str(obj), "--program", "nope")
    assert status == 2 and "count_and_pass" in err


def test_budget_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loop = tmp_path / "loop.s"
    loop.write_text("mov %r0, 0\nl:\nadd %r0, 1\njne %r0, 1000, l\nexit\n")
    assert cli(capsys, "run", str(loop))[1] == "1000\n"
    status, _, err = cli(capsys, "run", str(loop), "--budget", "100")
    assert status == 2 and "budget" in err


@pytest.mark.kernel
def test_plain_assembly_on_the_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "p.s"
    src.write_text("ldxw %r0, [%r1+0]\nadd %r0, %r2\nexit\n")
    mem = tmp_path / "mem.bin"
    mem.write_bytes(b"\x01\x00\x00\x00")
    for engine in ("interp", "kernel"):
        status, out, err = cli(capsys, "run", str(src), "--mem", str(mem), "--engine", engine)
        assert (status, out) == (0, "5\n"), err


def test_trace_prints_steps_and_changed_registers(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "c.s"
    src.write_text("mov %r0, 2\nl:\nsub %r0, 1\njne %r0, 0, l\nexit\n")
    status, out, err = cli(capsys, "run", str(src), "--trace")
    assert (status, out) == (0, "0\n")
    lines = err.splitlines()
    steps = [line for line in lines if not line.lstrip().startswith(";")]
    assert [s.split(":")[1].strip() for s in steps] == ["0", "1", "2", "1", "2", "3"]
    assert "r0=0x2" in lines[1] and "r0=0x1" in lines[3]
    assert cli(capsys, "run", str(src), "--trace", "--engine", "jit")[0] == 2


def test_trace_printk_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pybpf.toolchain as toolchain
    src = tmp_path / "hello.c"
    src.write_text('#include <bpf_helpers.h>\nSEC("xdp")\nint hello(struct xdp_md *ctx)\n{\n'
                   '\tbpf_printk("hello %d", 42);\n\treturn XDP_PASS;\n}\n'
                   'char LICENSE[] SEC("license") = "GPL";\n')
    try:
        obj = toolchain.compile_c(src, tmp_path / "hello.o")
    except Exception as exc:  # noqa: BLE001 - no compiler here
        pytest.skip(f"cannot compile C here: {exc}")
    pkt = tmp_path / "pkt.bin"
    pkt.write_bytes(bytes(20))
    status, out, err = cli(capsys, "run", str(obj), "--data-in", str(pkt), "--json")
    assert status == 0, err
    assert json.loads(out)["runs"] == [{"retval": 2, "data_out": "00" * 20}]
    assert err.strip().endswith("hello 42")


PERCPU_SOURCE = r"""
#include <bpf_helpers.h>
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} per_cpu SEC(".maps");
SEC("xdp")
int count(struct xdp_md *ctx)
{
	__u32 k = 1;
	__u64 *v = bpf_map_lookup_elem(&per_cpu, &k);
	if (v)
		*v += 7;
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


def _percpu_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str) -> dict:
    import pybpf.toolchain as toolchain
    src = tmp_path / "percpu.c"
    src.write_text(PERCPU_SOURCE)
    try:
        obj = toolchain.compile_c(src, tmp_path / "percpu.o")
    except Exception as exc:  # noqa: BLE001 - no compiler here
        pytest.skip(f"cannot compile C here: {exc}")
    pkt = tmp_path / "pkt.bin"
    pkt.write_bytes(bytes(20))
    status, out, err = cli(capsys, "run", str(obj), "--engine", engine, "--json",
                           "--data-in", str(pkt), "--data-in", str(pkt))
    assert status == 0, err
    result: dict = json.loads(out)
    return result


def test_percpu_values_are_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maps = {m["name"]: m["entries"] for m in _percpu_json(tmp_path, capsys, "interp")["maps"]}
    entries = maps["per_cpu"]
    assert [e["key"] for e in entries] == [ZERO_KEY, ["0x01"] + ["0x00"] * 3]
    values = entries[1]["values"]
    assert values[0] == {"cpu": 0, "value": ["0x0e"] + ["0x00"] * 7}  # CPU 0 ran both
    assert all(v["value"] == ["0x00"] * 8 for v in values[1:])
    assert [v["cpu"] for v in values] == list(range(len(values)))


@pytest.mark.kernel
def test_percpu_json_same_as_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ours = _percpu_json(tmp_path, capsys, "interp")
    theirs = _percpu_json(tmp_path, capsys, "kernel")
    assert ours["maps"] == theirs["maps"]


def test_data_out_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "swap.s"
    # XDP: swap the first two bytes of the packet
    src.write_text("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 2\n"
                   "if r4 > r3 goto +4\nr5 = *(u8 *)(r2 + 0)\nr6 = *(u8 *)(r2 + 1)\n"
                   "*(u8 *)(r2 + 0) = r6\n*(u8 *)(r2 + 1) = r5\nr0 = 2\nexit\n")
    pkt, out = tmp_path / "in.bin", tmp_path / "out.bin"
    pkt.write_bytes(bytes(range(1, 15)))
    status, _, err = cli(capsys, "run", str(src), "--type", "xdp", "--data-in", str(pkt),
                         "--data-out", str(out))
    assert status == 0, err
    assert out.read_bytes() == bytes([2, 1, *range(3, 15)])
