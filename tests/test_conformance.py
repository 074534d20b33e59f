"""The bpf_conformance suite and uBPF's vectors on the interpreter, the CLI verb and the plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.cli.main import main
from pybpf.conformance import judge, parse_data, parse_data_file, parse_mem, summary
from testlib import SHARED, shared_path

CONFORMANCE = SHARED / "conformance" / "tests"
UBPF = SHARED / "ubpf-tests"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.data")) if folder.is_dir() else ["<absent>"]


@pytest.mark.parametrize("name", _files(CONFORMANCE))
def test_conformance_vector(name: str) -> None:
    path = shared_path("conformance", "tests", name)
    outcome = judge(parse_data_file(path))
    assert outcome.status == "pass", outcome.reason


# Vectors of uBPF that legitimately skip, each with the reason the runner states.
UBPF_SKIPS = {"errors__err-unknown-opcode", "reload"}


@pytest.mark.parametrize("name", _files(UBPF))
def test_ubpf_vector(name: str) -> None:
    path = shared_path("ubpf-tests", name)
    outcome = judge(parse_data_file(path))
    if name.startswith("elf__") or path.stem in UBPF_SKIPS:
        assert outcome.status == "skip" and outcome.reason
        return
    assert outcome.status == "pass", outcome.reason


def test_suite_has_all_313_vectors() -> None:
    assert len(list(shared_path("conformance", "tests").glob("*.data"))) == 313


def test_parse_sections_comments_and_mem() -> None:
    test = parse_data(
        "# header comment\n-- asm\nmov %r0, 1 # trailing\nexit\n-- mem\n0x0000:  0026 622f\n"
        "-- result\n0xFF\n"
    )
    assert test.sections["asm"].split("\n")[0].strip() == "mov %r0, 1"
    assert test.mem == bytes([0x00, 0x26, 0x62, 0x2F])
    assert test.result == 0xFF
    assert parse_mem("aa bb\n11") == b"\xaa\xbb\x11"


def test_judge_reports_wrong_result() -> None:
    outcome = judge(parse_data("-- asm\nmov %r0, 2\nexit\n-- result\n0x3\n", "x.data"))
    assert outcome.status == "fail" and "expected 0x3" in outcome.reason


def test_judge_error_phase() -> None:
    load_fail = "-- asm\nja +5\nexit\n-- error\nFailed to load code: jump out of bounds at PC 0\n"
    assert judge(parse_data(load_fail, "a.data")).status == "pass"
    run_fail = "-- asm\nldxb %r0, [%r1]\nexit\n-- error pattern\nuBPF error: .*\n"
    assert judge(parse_data(run_fail, "b.data")).status == "pass"
    wrong_phase = "-- asm\nmov %r0, 0\nexit\n-- error\nFailed to load code: x\n"
    assert judge(parse_data(wrong_phase, "c.data")).status == "fail"


def test_cli_conformance_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shared_path("conformance", "tests")
    assert main(["conformance", str(CONFORMANCE)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "313 passed, 0 failed"
    bad = tmp_path / "bad.data"
    bad.write_text("-- asm\nmov %r0, 1\nexit\n-- result\n0x2\n")
    good = tmp_path / "good.data"
    good.write_text("-- asm\nmov %r0, 2\nexit\n-- result\n0x2\n")
    assert main(["conformance", str(tmp_path)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "1 passed, 1 failed"
    assert any("bad.data" in line and "expected 0x2" in line for line in out[:-1])


def test_cli_conformance_counts_skips(capsys: pytest.CaptureFixture[str]) -> None:
    shared_path("ubpf-tests")
    assert main(["conformance", str(UBPF)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith("skipped") and ", 0 failed, " in last


def test_summary_format() -> None:
    assert summary([]) == "0 passed, 0 failed"


def _plugin(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pybpf.cli.plugin", *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )


def _hex(data: bytes) -> str:
    return "".join(f"{b:02x}  " for b in data)


def test_plugin_protocol_subprocess() -> None:
    # ldxw r0, [r1+0]; add r0, r2; exit  with memory 01 02 03 04 (r2 = 4)
    code = bytes.fromhex("6110000000000000" "0f20000000000000" "9500000000000000")
    done = _plugin([_hex(b"\x01\x02\x03\x04")], _hex(code) + "\n")
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip(), 16) == 0x04030201 + 4


def test_plugin_without_memory_and_options_first() -> None:
    code = bytes.fromhex("b7000000ffffffff" "9500000000000000")  # mov r0, -1
    done = _plugin(["--engine", "interp"], _hex(code) + "\n")
    assert done.returncode == 0 and done.stdout.strip() == "ffffffffffffffff"


def test_plugin_failure_exits_nonzero() -> None:
    code = bytes.fromhex("7110000000000000" "9500000000000000")  # ldxb r0, [r1] with r1 = 0
    done = _plugin([], _hex(code))
    assert done.returncode != 0 and "0x0" in (done.stdout + done.stderr)


def test_plugin_matches_suite_vector() -> None:
    from pybpf.conformance import program_of
    from pybpf.isa import encode

    test = parse_data_file(shared_path("conformance", "tests", "subnet.data"))
    code = encode(program_of(test))
    done = _plugin([_hex(test.mem)], _hex(code) + "\n")
    assert done.returncode == 0 and int(done.stdout, 16) == test.result


def test_plugin_elf_input(tmp_path: Path) -> None:
    import pybpf.toolchain as toolchain
    src = tmp_path / "m.c"
    src.write_text("int main(void) { return 3; }\n")
    try:
        obj = Path(toolchain.compile_c(src, tmp_path / "m.o"))
    except Exception as exc:  # noqa: BLE001 - no compiler here
        pytest.skip(f"cannot compile C here: {exc}")
    done = _plugin(["--elf"], _hex(obj.read_bytes()) + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["add.data", "subnet.data", "lock_cmpxchg.data", "stxdw.data"])
def test_kernel_engine_runs_vectors(name: str) -> None:
    outcome = judge(parse_data_file(shared_path("conformance", "tests", name)), "kernel")
    assert outcome.status == "pass", outcome.reason


@pytest.mark.kernel
def test_kernel_engine_refuses_out_of_range_shift() -> None:
    outcome = judge(parse_data_file(shared_path("conformance", "tests", "lsh64-imm-high.data")),
                    "kernel")
    assert outcome.status == "fail" and "invalid shift" in outcome.reason


def test_cli_include_exclude(capsys: pytest.CaptureFixture[str]) -> None:
    shared_path("conformance", "tests")
    assert main(["conformance", "--include", "^lock_", str(CONFORMANCE)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "20 passed, 0 failed"
    assert main(["conformance", "--include", "^lock_", "--exclude", "32", str(CONFORMANCE)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "10 passed, 0 failed"
    assert main(["conformance", "--include", "(", str(CONFORMANCE)]) == 2


@pytest.mark.kernel
def test_kernel_passes_with_upstreams_exclusions(capsys: pytest.CaptureFixture[str]) -> None:
    shared_path("conformance", "tests")
    status = main(["conformance", "--engine", "kernel", "--exclude", "(imm|intmin)-|callx",
                   str(CONFORMANCE)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert status == 0 and last.endswith(" passed, 0 failed")


def _as_upstream_runner(path: Path) -> bool:
    """Judge one vector the way bpf_conformance_runner does, through the plugin process."""
    from pybpf.conformance import program_of
    from pybpf.isa import encode

    test = parse_data_file(path)
    args = [_hex(test.mem)] if test.mem else []
    done = _plugin(args, _hex(encode(program_of(test))) + "\n")
    if done.returncode != 0:
        return False
    out = done.stdout.rstrip("\n").strip()
    value = int(out[2:] if out.lower().startswith("0x") else out, 16)
    return value == test.result


SAMPLE = ["add.data", "callx.data", "call_local.data", "lock_cmpxchg.data", "mem-len.data",
          "rfc9669_sdiv64.data", "stack.data", "swap64.data"]


@pytest.mark.parametrize("name", SAMPLE)
def test_plugin_as_upstream_runner_sample(name: str) -> None:
    assert _as_upstream_runner(shared_path("conformance", "tests", name))


@pytest.mark.slow
def test_plugin_as_upstream_runner_all() -> None:
    failed = [p.name for p in sorted(shared_path("conformance", "tests").glob("*.data"))
              if not _as_upstream_runner(p)]
    assert not failed
