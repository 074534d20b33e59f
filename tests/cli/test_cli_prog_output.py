"""`prog dump` names helpers and shows BTF line info; `prog show --json` gives wall-clock times;
tables and progress use rich on a terminal only."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pybpf.cli import _output
from pybpf.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.kernel
def test_prog_dump_names_helpers_and_shows_source(capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.kernel.info import prog_info
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c

    spec = load_file(compile_c(ROOT / "tests" / "kernel" / "data" / "tp_events.c"))
    before = time.time()
    with load_collection(spec) as coll:
        prog_id = prog_info(coll.programs["on_getppid"].fd).id
        assert main(["prog", "dump", str(prog_id), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert main(["prog", "dump", str(prog_id), "--linum"]) == 0
        text = capsys.readouterr().out
        assert main(["prog", "show", str(prog_id), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
    after = time.time()
    assert rows[0]["function"] == "on_getppid"
    assert rows[0]["text"] == "call bpf_get_current_pid_tgid#14"
    assert "bpf_get_current_pid_tgid()" in rows[0]["src"] and rows[0]["file"].endswith("tp_events.c")
    assert any(r["text"] == "call bpf_ringbuf_output#130" for r in rows)
    lines = text.splitlines()
    assert lines[0] == "on_getppid:"
    assert lines[1].startswith("; __u32 pid = bpf_get_current_pid_tgid() >> 32; [")
    assert lines[2].strip() == "0: call bpf_get_current_pid_tgid#14"
    # loaded_at: wall-clock seconds since the epoch (bpftool -j), not nanoseconds since boot
    assert int(before) - 2 <= shown["loaded_at"] <= after + 2


def test_plain_table_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    _output.print_table(["ID", "NAME"], [[1, "counts"], [22, "x"]])
    assert capsys.readouterr().out.splitlines() == ["ID  NAME", "1   counts", "22  x"]


def test_rich_table_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_output, "is_terminal", lambda stream=None: True)
    _output.print_table(["ID", "NAME"], [[1, "counts"]])
    out = capsys.readouterr().out
    assert "ID" in out and "counts" in out and out.splitlines() != ["ID  NAME", "1   counts"]


def test_track_is_silent_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(_output.track([1, 2, 3], str)) == [1, 2, 3]
    assert capsys.readouterr() == ("", "")


def test_json_documents_share_one_indentation(capsys: pytest.CaptureFixture[str]) -> None:
    _output.print_json({"a": [1]})
    assert capsys.readouterr().out == '{\n  "a": [\n    1\n  ]\n}\n'
    _output.print_json_line({"a": [1]})
    assert capsys.readouterr().out == '{"a":[1]}\n'
