"""The kernel verbs of the pybpf command: attach (streaming events), prog/map list, map dump, feature."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.cli.main import main
from pybpf.kernel.kernel_engine import load_collection
from pybpf.kernel.pin import unpin

from .progs import counter_collection, packet

pytestmark = pytest.mark.kernel
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tp_events() -> Path:
    from pybpf.toolchain import compile_c

    try:
        return compile_c(DATA / "tp_events.c")
    except Exception as exc:  # noqa: BLE001 - no compiler: skip with the reason
        pytest.skip(f"cannot compile the test program: {exc}")


def test_attach_streams_json_events_and_prints_maps(tp_events: Path) -> None:
    cmd = [sys.executable, "-m", "pybpf", "attach", str(tp_events), "--program", "on_getppid",
           "--tracepoint", "syscalls/sys_enter_getppid", "--json", "--duration", "60",
           "--set", f"target_pid={os.getpid()}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        line = proc.stderr.readline()
        assert line.startswith("attached on_getppid (tracepoint syscalls/sys_enter_getppid)"), line
        for _ in range(12):
            os.getppid()
        events = [json.loads(proc.stdout.readline()) for _ in range(12)]
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert all(e["event"] == "ringbuf" and e["map"] == "events" for e in events)
    # struct event is found from the program's bpf_ringbuf_output(&events, &e, 8, 0) call
    assert [e["value"] for e in events] == [{"pid": os.getpid(), "seq": i} for i in range(12)]
    maps = {m["name"]: m for m in map(json.loads, rest.splitlines())}
    assert maps["calls"]["entries"] == [{"key": ["0x00"] * 4, "value": ["0x0c"] + ["0x00"] * 7,
                                         "formatted": {"key": 0, "value": 12}}]


def test_attach_bad_program_name_is_one_line(tp_events: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["attach", str(tp_events), "--program", "nope", "--tracepoint", "syscalls/sys_enter_getppid"])
    err = capsys.readouterr().err
    assert code == 2 and "no program 'nope'" in err and len(err.strip().splitlines()) == 1


def test_map_list_dump_and_prog_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with load_collection(counter_collection()) as coll:
        coll.programs["count"].run(packet(), repeat=3)
        m = coll.maps["counts"]
        pin = f"/sys/fs/bpf/pybpf_cli_test_{os.getpid()}"
        m.pin(pin)
        try:
            from pybpf.kernel.info import map_info

            mid = map_info(m.fd).id
            assert main(["map", "list", "--json"]) == 0
            listed = json.loads(capsys.readouterr().out)
            assert any(x["id"] == mid and x["name"] == "counts" and x["type"] == "array" for x in listed)
            assert main(["map", "dump", str(mid)]) == 0
            out = capsys.readouterr().out
            assert "key: 00 00 00 00  value: 03 00 00 00 00 00 00 00" in out and "Found 1 element" in out
            assert main(["map", "dump", pin, "--json"]) == 0
            assert json.loads(capsys.readouterr().out) == [
                {"key": ["0x00"] * 4, "value": ["0x03"] + ["0x00"] * 7}]
            assert main(["prog", "list", "--json"]) == 0
            progs = json.loads(capsys.readouterr().out)
            assert any(p["name"] == "count" and p["type"] == "xdp" and mid in p["map_ids"] for p in progs)
            assert main(["prog", "list"]) == 0
            assert "xdp  name count" in capsys.readouterr().out
        finally:
            unpin(pin)
    assert main(["map", "dump", "999999999"]) == 2
    assert "no map with id 999999999" in capsys.readouterr().err


def test_feature_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feature", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    xdp = next(f for f in data["program_types"] if f["name"] == "program type xdp")
    assert xdp["supported"] is True
    assert any(f["name"] == "kprobe/kretprobe" for f in data["attach"])


def test_verbs_without_permission_exit_2(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.kernel import probe

    monkeypatch.setattr(probe, "bpf_permission_error", lambda: "bpf() returned EPERM: run as root or grant CAP_BPF")
    for argv in (["prog", "list"], ["map", "list"], ["map", "dump", "1"], ["feature"],
                 ["attach", "x.o", "--program", "p", "--xdp", "lo"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "EPERM" in err[0]


def test_attach_decodes_events_by_btf_type(tp_events: Path) -> None:
    cmd = [sys.executable, "-m", "pybpf", "attach", str(tp_events), "--program", "on_getppid",
           "--tracepoint", "syscalls/sys_enter_getppid", "--json", "--event-type", "event",
           "--set", f"target_pid={os.getpid()}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        assert proc.stderr.readline().startswith("attached on_getppid")
        for _ in range(3):
            os.getppid()
        events = [json.loads(proc.stdout.readline()) for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [e["value"] for e in events] == [{"pid": os.getpid(), "seq": i} for i in range(3)]


def test_map_dump_formats_through_btf(capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.kernel.info import map_info
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c

    try:
        spec = load_file(compile_c(DATA / "tp_events.c"))
    except Exception as exc:  # noqa: BLE001 - no compiler: skip with the reason
        pytest.skip(f"cannot compile the test program: {exc}")
    with load_collection(spec) as coll:
        coll.maps["calls"][0] = 1234
        i = map_info(coll.maps["calls"].fd)
        assert i.btf_id and i.btf_key_type_id and i.btf_value_type_id  # created with the object's BTF
        assert main(["map", "dump", str(i.id), "--json"]) == 0
        entries = json.loads(capsys.readouterr().out)
        assert entries == [{"key": ["0x00"] * 4, "value": ["0xd2", "0x04"] + ["0x00"] * 6,
                            "formatted": {"key": 0, "value": 1234}}]
        assert main(["map", "dump", str(i.id)]) == 0
        out = capsys.readouterr().out
        assert "key: 0  value: 1234" in out and "Found 1 element" in out


def test_attach_kprobe_reports_unsupported(tp_events: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.kernel.links import kprobes_supported

    if kprobes_supported():
        pytest.skip("this kernel has kprobes")
    assert main(["attach", str(tp_events), "--program", "on_getppid", "--kprobe", "do_sys_openat2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kprobes are not supported by this kernel" in err[0]


def test_prog_dump_shows_the_kernels_instructions(capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.kernel.info import prog_info

    with load_collection(counter_collection()) as coll:
        pid = prog_info(coll.programs["count"].fd).id
        assert main(["prog", "dump", str(pid)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split(":", 1)[0].strip() == "0" and lines[-1].endswith("exit")
        assert main(["prog", "dump", str(pid), "--json"]) == 0
        listing = json.loads(capsys.readouterr().out)
        assert listing[0]["pc"] == 0 and listing[-1]["text"] == "exit"
        assert any("lock" in x["text"] for x in listing)  # the atomic add survives the kernel's rewrites


def test_attach_auto_uses_the_section(tp_events: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cmd = [sys.executable, "-m", "pybpf", "attach", str(tp_events), "--auto", "--json", "--event-type", "event",
           "--set", f"target_pid={os.getpid()}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        assert proc.stderr.readline().startswith("attached on_getppid (tracepoint syscalls/sys_enter_getppid)")
        assert proc.stderr.readline().startswith("Ctrl-C to stop")
        os.getppid()
        assert json.loads(proc.stdout.readline())["value"] == {"pid": os.getpid(), "seq": 0}
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert main(["attach", str(tp_events)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--auto" in err[0]


UPROBE_TARGET_C = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int probed(int x) { __asm__ volatile(""); return x + 1; }
int main(void) {
    char line[16];
    puts("ready"); fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) return 1;
    int s = 0;
    for (int i = 0; i < 11; i++) s += probed(i);
    printf("%d\n", s);
    return 0;
}
"""


def test_attach_uprobe_with_pid_counts_calls(tmp_path: Path) -> None:
    import shutil

    from pybpf.toolchain import compile_c

    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    (tmp_path / "t.c").write_text(UPROBE_TARGET_C)
    subprocess.run(["gcc", "-O1", "-o", str(tmp_path / "t"), str(tmp_path / "t.c")], check=True)
    try:
        obj = compile_c(DATA / "uprobe_count.c")
    except Exception as exc:  # noqa: BLE001 - no compiler: skip with the reason
        pytest.skip(f"cannot compile the test program: {exc}")
    target = subprocess.Popen([str(tmp_path / "t")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    other = subprocess.Popen([str(tmp_path / "t")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    cli: subprocess.Popen[str] | None = None
    try:
        assert target.stdout is not None and target.stdout.readline() == "ready\n"
        assert other.stdout is not None and other.stdout.readline() == "ready\n"
        cli = subprocess.Popen([sys.executable, "-m", "pybpf", "attach", str(obj), "--program", "count_calls",
                                "--uprobe", f"{tmp_path / 't'}:probed", "--pid", str(target.pid), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert cli.stderr is not None and cli.stderr.readline().startswith("attached count_calls (uprobe ")
        for proc in (target, other):  # only the target's calls count
            out, _ = proc.communicate("go\n", timeout=30)
            assert out.strip() == str(sum(i + 1 for i in range(11)))
        cli.send_signal(signal.SIGINT)
        rest, _ = cli.communicate(timeout=20)
        maps = {m["name"]: m for m in map(json.loads, rest.splitlines())}
        assert maps["calls"]["entries"] == [{"key": ["0x00"] * 4, "value": ["0x0b"] + ["0x00"] * 7,
                                             "formatted": {"key": 0, "value": 11}}]
    finally:
        for proc in [p for p in (target, other, cli) if p is not None]:
            if proc.poll() is None:
                proc.kill()
