"""Policies enforced in the kernel: SIGKILL on a matching open, Post for another binary, NoPost,
rate limits, a uprobe with a Signal action, and the /metrics counters."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from guard_support import EventLog

pytestmark = pytest.mark.kernel

POLICY = """\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: secret-files
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    message: "secret file opened"
    tags: ["test"]
    args:
    - index: 6
      type: string
    - index: 7
      type: int
    selectors:
    - matchBinaries:
      - operator: In
        values: ["{cat}"]
      matchArgs:
      - index: 6
        operator: Prefix
        values: ["{secret_dir}/"]
      matchActions:
      - action: Sigkill
    - matchBinaries:
      - operator: In
        values: ["{quietcat}"]
      matchArgs:
      - index: 6
        operator: Postfix
        values: ["/data.txt"]
      matchActions:
      - action: Sigkill
      - action: NoPost
    - matchBinaries:
      - operator: In
        values: ["{head}"]
      matchArgs:
      - index: 6
        operator: Equal
        values: ["{secret}"]
      - index: 7
        operator: LT
        values: ["0x40000000"]
      matchActions:
      - action: Post
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: rate-limited
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Equal
        values: ["{rate}"]
      matchActions:
      - action: Post
        rateLimit: 10m
        rateLimitScope: global
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: follow-pids
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Equal
        values: ["{follow}"]
      matchPIDs:
      - operator: In
        followForks: true
        values: [{pid}]
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: exact-pids
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Equal
        values: ["{follow}"]
      matchPIDs:
      - operator: In
        values: [{pid}]
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: chdir-guard
spec:
  uprobes:
  - path: libc
    symbols: ["chdir"]
    args:
    - index: 0
      type: string
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["{forbidden}"]
      matchActions:
      - action: Signal
        argSig: 9
"""


class Setup:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.secret_dir = root / "secret"
        self.secret_dir.mkdir()
        self.secret = self.secret_dir / "data.txt"
        self.secret.write_text("top secret\n")
        self.other = root / "other.txt"
        self.other.write_text("public\n")
        self.rate = root / "rate.txt"
        self.rate.write_text("rate\n")
        self.follow = root / "follow.txt"
        self.follow.write_text("follow\n")
        self.forbidden = root / "forbidden"
        self.forbidden.mkdir()
        bindir = root / "bin"
        bindir.mkdir()
        self.cat = os.path.realpath(shutil.which("cat") or "/bin/cat")
        self.head = str(bindir / "guardhead")
        shutil.copy2(os.path.realpath(shutil.which("head") or "/usr/bin/head"), self.head)
        self.quietcat = str(bindir / "quietcat")
        shutil.copy2(self.cat, self.quietcat)

    def policy(self) -> str:
        return POLICY.format(cat=self.cat, quietcat=self.quietcat, head=self.head, secret_dir=self.secret_dir,
                             secret=self.secret, rate=self.rate, forbidden=self.forbidden, follow=self.follow,
                             pid=os.getpid())


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    return Setup(Path(os.path.realpath(tmp_path_factory.mktemp("guard-enforce"))))


@pytest.fixture(scope="module")
def log(setup: Setup) -> Iterator[EventLog]:
    from pybpf.guard.policy import parse_policies
    from pybpf.guard.runner import Guard, GuardMetrics

    policies = parse_policies(setup.policy(), "enforce.yaml")
    metrics = GuardMetrics()
    with Guard(policies, node_name="guard-test", metrics=metrics) as guard:
        server = metrics.serve("127.0.0.1:0")
        guard.metrics_port = server.server_port  # type: ignore[attr-defined]
        try:
            yield EventLog(guard)
        finally:
            server.shutdown()


def run(argv: list[str], **kw: Any) -> tuple[subprocess.CompletedProcess[bytes], int]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), proc.pid


def test_cat_opening_a_secret_file_is_killed(setup: Setup, log: EventLog) -> None:
    result, pid = run([setup.cat, str(setup.secret)])
    assert result.returncode == -9  # SIGKILL
    assert result.stdout == b""
    exit_ = log.exit_of(pid)
    assert exit_["signal"] == "SIGKILL"
    assert exit_["process"]["binary"] == setup.cat
    (tp,) = [t for t in log.of_pid("process_tracepoint", pid) if t["policy_name"] == "secret-files"]
    assert tp["action"] == "KPROBE_ACTION_SIGKILL"
    assert (tp["subsys"], tp["event"]) == ("syscalls", "sys_enter_openat")
    assert tp["args"][0] == {"string_arg": str(setup.secret)}
    assert tp["args"][1] == {"int_arg": os.O_RDONLY}
    assert tp["message"] == "secret file opened" and tp["tags"] == ["test"]
    assert tp["process"]["exec_id"] == exit_["process"]["exec_id"]
    assert tp["parent"]["pid"] == os.getpid()
    assert log.guard.killed() >= 1


def test_another_binary_is_posted_not_killed(setup: Setup, log: EventLog) -> None:
    result, pid = run([setup.head, "-n1", str(setup.secret)])
    assert result.returncode == 0
    assert result.stdout == b"top secret\n"
    exit_ = log.exit_of(pid)
    assert "signal" not in exit_ and "status" not in exit_
    (tp,) = log.of_pid("process_tracepoint", pid)
    assert tp["action"] == "KPROBE_ACTION_POST"
    assert tp["process"]["binary"] == setup.head
    assert tp["args"][0] == {"string_arg": str(setup.secret)}


def test_nopost_kills_without_an_event(setup: Setup, log: EventLog) -> None:
    result, pid = run([setup.quietcat, str(setup.secret)])
    assert result.returncode == -9
    assert log.exit_of(pid)["signal"] == "SIGKILL"
    assert log.of_pid("process_tracepoint", pid) == []


def test_other_files_are_ignored(setup: Setup, log: EventLog) -> None:
    result, pid = run([setup.cat, str(setup.other)])
    assert result.returncode == 0 and result.stdout == b"public\n"
    exit_ = log.exit_of(pid)
    assert "signal" not in exit_
    assert log.of_pid("process_tracepoint", pid) == []


def test_rate_limit_posts_once_per_window(setup: Setup, log: EventLog) -> None:
    pids = []
    for _ in range(3):
        result, pid = run([setup.cat, str(setup.rate)])
        assert result.returncode == 0
        pids.append(pid)
    for pid in pids:
        log.exit_of(pid)
    posted = [e["process_tracepoint"] for e in log.events if "process_tracepoint" in e
              and e["process_tracepoint"]["policy_name"] == "rate-limited"]
    assert len(posted) == 1  # global scope, 10 minute window: the second and third opens are not posted
    assert posted[0]["process"]["pid"] == pids[0]


def test_match_pids_follow_forks(setup: Setup, log: EventLog) -> None:
    def posted(policy: str, pid: int) -> list[dict[str, Any]]:
        return [t for t in log.of_pid("process_tracepoint", pid) if t["policy_name"] == policy]

    with open(setup.follow) as f:  # this process: both policies match
        assert f.read() == "follow\n"
    me = os.getpid()
    log.wait_for(lambda e: "process_tracepoint" in e and e["process_tracepoint"]["policy_name"] == "exact-pids"
                 and e["process_tracepoint"]["process"]["pid"] == me)
    assert len(posted("follow-pids", me)) >= 1
    # a grandchild forked after the policy was loaded: followed, but not an exact PID match
    result, sh_pid = run(["/bin/sh", "-c", f"{setup.cat} {setup.follow}; exit 0"])
    assert result.returncode == 0 and result.stdout == b"follow\n"
    log.exit_of(sh_pid)
    cat = [e["process_exec"]["process"]["pid"] for e in log.events if "process_exec" in e
           and e["process_exec"].get("parent", {}).get("pid") == sh_pid]
    assert len(cat) == 1
    log.exit_of(cat[0])
    assert len(posted("follow-pids", cat[0])) == 1
    assert posted("exact-pids", cat[0]) == []


def test_uprobe_signal_action(setup: Setup, log: EventLog) -> None:
    result, pid = run(["/bin/sh", "-c", f"cd {setup.forbidden} && echo survived"])
    assert result.returncode == -9
    assert result.stdout == b""
    assert log.exit_of(pid)["signal"] == "SIGKILL"
    (up,) = log.of_pid("process_uprobe", pid)
    assert up["symbol"] == "chdir" and up["policy_name"] == "chdir-guard"
    assert os.path.basename(up["path"]).startswith("libc")
    assert up["args"] == [{"string_arg": str(setup.forbidden)}]
    # another directory: no event, no signal
    result, pid = run(["/bin/sh", "-c", f"cd {setup.root} && echo survived"])
    assert result.returncode == 0 and result.stdout == b"survived\n"
    log.exit_of(pid)
    assert log.of_pid("process_uprobe", pid) == []


def test_metrics_endpoint_counts_events(setup: Setup, log: EventLog) -> None:
    import httpx

    result, pid = run([setup.cat, str(setup.secret)])
    assert result.returncode == -9
    log.exit_of(pid)
    text = httpx.get(f"http://127.0.0.1:{log.guard.metrics_port}/metrics", timeout=10).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    assert samples['pybpf_guard_events_total{type="process_exit"}'] >= 1
    key = ('pybpf_guard_policy_events_total{action="KPROBE_ACTION_SIGKILL",hook="syscalls/sys_enter_openat",'
           'policy="secret-files"}')
    assert samples[key] >= 1
    assert samples["pybpf_guard_sigkills"] >= 1
    assert "pybpf_guard_lost_events" in samples
