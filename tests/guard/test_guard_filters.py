"""matchCapabilities and matchNamespaces in the kernel: a root process, one without capabilities,
one in a new network namespace, each opening the same file."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from guard_support import EventLog

pytestmark = pytest.mark.kernel

HEADER = """\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: {name}
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
        values: ["{path}"]
"""
FILTERS = {
    "admin-caps": """\
      matchCapabilities:
      - type: Effective
        operator: In
        values: ["CAP_SYS_ADMIN"]
""",
    "host-namespaces": """\
      matchNamespaces:
      - namespace: Mnt
        operator: In
        values: ["host_ns"]
      - namespace: Pid
        operator: In
        values: ["host_ns"]
      - namespace: User
        operator: In
        values: ["host_ns"]
      - namespace: Net
        operator: In
        values: ["host_ns"]
""",
    "other-net": """\
      matchNamespaces:
      - namespace: Net
        operator: NotIn
        values: ["host_ns"]
""",
}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(os.path.realpath(tmp_path_factory.mktemp("guard-filters"))) / "file.txt"
    path.write_text("data\n")
    return path


@pytest.fixture(scope="module")
def log(target: Path) -> Iterator[EventLog]:
    from pybpf.guard.policy import parse_policies
    from pybpf.guard.runner import Guard

    text = "---\n".join(HEADER.format(name=name, path=target) + body for name, body in FILTERS.items())
    with Guard(parse_policies(text, "filters.yaml")) as guard:
        yield EventLog(guard)


def matched(log: EventLog, argv: list[str], **kw: object) -> set[str]:
    """The policies that posted an event for the `cat` run by argv (maybe through a wrapper)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    proc.wait(timeout=30)
    log.exit_of(proc.pid)
    cat = os.path.realpath(shutil.which("cat") or "/bin/cat")
    pids = {proc.pid} | {e["process_exec"]["process"]["pid"] for e in log.events if "process_exec" in e
                         and e["process_exec"]["process"]["binary"] == cat
                         and e["process_exec"].get("parent", {}).get("pid") == proc.pid}
    for pid in pids:
        log.exit_of(pid)
    return {t["policy_name"] for pid in pids for t in log.of_pid("process_tracepoint", pid)}


def test_root_in_the_host_namespaces(log: EventLog, target: Path) -> None:
    assert matched(log, [shutil.which("cat") or "/bin/cat", str(target)]) == {"admin-caps", "host-namespaces"}


def test_without_capabilities(log: EventLog, target: Path) -> None:
    # uid 65534 has no effective capabilities; the open fails (EACCES) but sys_enter_openat fires first
    assert matched(log, [shutil.which("cat") or "/bin/cat", str(target)], user=65534, group=65534) == {
        "host-namespaces"}


def test_in_a_new_network_namespace(log: EventLog, target: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed")
    cat = shutil.which("cat") or "/bin/cat"
    assert matched(log, [unshare, "--net", cat, str(target)]) == {"admin-caps", "other-net"}
