"""Map entries and events decoded through BTF, sorted, in one schema; unreadable maps are noted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
PYBPF = [sys.executable, "-m", "pybpf"]

# by_task after `fill`: {tgid, nr} -> i, inserted in the order i = 0..4
SORTED_KEYS = [(1, 700, 3), (1, 900, 1), (2, 600, 4), (2, 800, 2), (2, 1000, 0)]


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from pybpf.toolchain import compile_c

    out = tmp_path_factory.mktemp("decode")
    return {name: Path(compile_c(DATA / f"{name}.c", out / f"{name}.o"))
            for name in ("decode_maps", "decode_events")}


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("engine", ["interp", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_struct_keys_decoded_and_sorted(objects: dict[str, Path], tmp_path: Path, engine: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    pkt = tmp_path / "pkt.bin"
    pkt.write_bytes(bytes(60))
    status, out, err = _run(capsys, "run", str(objects["decode_maps"]), "--engine", engine,
                            "--data-in", str(pkt), "--json")
    assert status == 0, err
    maps = {m["name"]: m for m in json.loads(out)["maps"]}
    entries = maps["by_task"]["entries"]
    assert [(e["formatted"]["key"]["tgid"], e["formatted"]["key"]["nr"], e["formatted"]["value"])
            for e in entries] == SORTED_KEYS
    first = entries[0]  # bpftool's bytes next to the decoded form
    assert first["key"] == ["0x01", "0x00", "0x00", "0x00", "0xbc", "0x02", "0x00", "0x00"]
    assert first["value"] == ["0x03"] + ["0x00"] * 7
    status, out, _ = _run(capsys, "run", str(objects["decode_maps"]), "--engine", engine,
                          "--data-in", str(pkt))
    lines = [line.strip() for line in out.splitlines() if line.startswith("  key: {")]
    assert lines == [f'key: {{"tgid": {t}, "nr": {n}}}  value: {v}' for t, n, v in SORTED_KEYS]


def test_event_type_of_the_ringbuf_example() -> None:
    from pybpf.btf.entries import find_type
    from pybpf.object import load_file
    from pybpf.object.events import event_type_id
    from pybpf.toolchain import compile_c

    spec = load_file(compile_c(ROOT / "examples" / "ringbuf_events.c"))
    event = find_type(spec.btf, "event")
    assert event is not None and spec.btf.type(event).name == "event"
    assert find_type(spec.btf, "struct event") == event
    assert event_type_id(spec, "events") == event


def test_event_type_from_the_output_call() -> None:
    """tp_events.c declares no type on its ring buffer: the 8 bytes passed to
    bpf_ringbuf_output pick `struct event` (the one 8-byte struct)."""
    from pybpf.object import load_file
    from pybpf.object.events import event_type_id
    from pybpf.toolchain import compile_c

    spec = load_file(compile_c(ROOT / "tests" / "kernel" / "data" / "tp_events.c"))
    assert spec.maps["events"].value_type_id == 0
    type_id = event_type_id(spec, "events")
    assert type_id and spec.btf.type(type_id).name == "event"


@pytest.mark.kernel
def test_attach_decodes_variable_records_and_notes_unreadable_maps(objects: dict[str, Path]) -> None:
    cmd = [*PYBPF, "attach", str(objects["decode_events"]), "--program", "on_getppid",
           "--tracepoint", "syscalls/sys_enter_getppid", "--json", "--duration", "60",
           "--set", f"target_pid={os.getpid()}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        assert proc.stderr.readline().startswith("attached on_getppid")
        os.getppid()
        events = [json.loads(proc.stdout.readline()) for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    by_map: dict[str, list[object]] = {}
    for e in events:
        by_map.setdefault(e["map"], []).append(e["value"])
    # struct note { u32 len; char text[]; }: the flexible array takes the rest of each record
    assert by_map["notes"] == [{"len": 3, "text": "abc"}, {"len": 11, "text": "hello world"}]
    # struct line { u32 len; char text[16]; } from a 10-byte record: cut short, not refused
    assert by_map["lines"] == [{"len": 3, "text": "abc"}]
    assert "map cgroups (cgroup_array) not dumped: " in err and "524" in err
    assert "Traceback" not in err
