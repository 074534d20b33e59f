"""process_exec / process_exit of a process tree: arguments, cwd, uid, parents, exec_ids, exit status."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from guard_support import EventLog

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def log() -> Iterator[EventLog]:
    from pybpf.guard.runner import Guard

    with Guard([], node_name="guard-node") as guard:  # no policies: process events only
        yield EventLog(guard)


def test_process_tree_exec_and_exit(log: EventLog, tmp_path: Path) -> None:
    workdir = Path(os.path.realpath(tmp_path)) / "work dir"
    workdir.mkdir()
    true_copy = str(workdir / "guardtrue")
    shutil.copy2(os.path.realpath(shutil.which("true") or "/bin/true"), true_copy)
    script = f"cd '{workdir}' && ./guardtrue one 'two words'; exit 3"
    proc = subprocess.Popen(["/bin/sh", "-c", script], cwd="/")
    assert proc.wait(timeout=30) == 3

    sh = log.exec_of(proc.pid)
    assert sh["process"]["binary"] == "/bin/sh"
    assert sh["process"]["arguments"] == f'-c "{script}"'
    assert sh["process"]["cwd"] == "/"
    assert sh["process"]["uid"] == os.geteuid()
    assert sh["process"]["pid"] == proc.pid
    # the parent is this test process, known from /proc since guard started
    assert sh["parent"]["pid"] == os.getpid()
    assert sh["process"]["parent_exec_id"] == sh["parent"]["exec_id"]
    assert "procFS" in sh["parent"]["flags"]
    node, ktime, pid = base64.b64decode(sh["process"]["exec_id"]).decode().split(":")
    assert (node, int(pid)) == ("guard-node", proc.pid) and int(ktime) > 0

    child = log.wait_for(lambda e: "process_exec" in e
                         and e["process_exec"]["process"]["binary"] == true_copy)["process_exec"]
    assert child["process"]["arguments"] == 'one "two words"'  # relative ./guardtrue made absolute
    assert child["process"]["cwd"] == str(workdir)
    assert child["parent"]["pid"] == proc.pid
    assert child["parent"]["binary"] == "/bin/sh"
    assert child["process"]["parent_exec_id"] == sh["process"]["exec_id"]
    assert child["process"]["exec_id"] != sh["process"]["exec_id"]

    child_exit = log.exit_of(child["process"]["pid"])
    assert "status" not in child_exit and "signal" not in child_exit  # exit 0
    assert child_exit["process"]["exec_id"] == child["process"]["exec_id"]
    assert child_exit["parent"]["exec_id"] == sh["process"]["exec_id"]

    sh_exit = log.exit_of(proc.pid)
    assert sh_exit["status"] == 3
    assert sh_exit["process"]["exec_id"] == sh["process"]["exec_id"]


def test_exit_by_signal(log: EventLog) -> None:
    proc = subprocess.Popen(["/bin/sh", "-c", "kill -TERM $$"])
    assert proc.wait(timeout=30) == -15
    exit_ = log.exit_of(proc.pid)
    assert exit_["signal"] == "SIGTERM"


def test_event_layout(log: EventLog) -> None:
    proc = subprocess.Popen(["/bin/sh", "-c", "exit 0"])
    proc.wait(timeout=30)
    event = log.wait_for(lambda e: "process_exec" in e and e["process_exec"]["process"]["pid"] == proc.pid)
    assert set(event) == {"process_exec", "node_name", "time"}
    assert event["node_name"] == "guard-node"
    assert event["time"].endswith("Z") and event["time"][10] == "T"
    process = event["process_exec"]["process"]
    assert {"exec_id", "pid", "uid", "cwd", "binary", "arguments", "flags", "start_time",
            "parent_exec_id"} <= set(process)
    assert process["start_time"] == event["time"]
