"""Current-task helpers in user space: the running Python thread is "current".

bpf_get_current_pid_tgid returns (tgid << 32) | tid, bpf_get_current_uid_gid (gid << 32) | uid,
bpf_get_current_comm the thread's name (/proc/thread-self/comm), bpf_get_current_cgroup_id the
inode of the process's cgroup v2 directory (its kernel cgroup id). A runtime can pin them with
env.extra["task"] = {"pid": tid, "tgid": ..., "uid": ..., "gid": ..., "comm": b"...",
"cgroup_id": ...} so runs are reproducible.
"""

from __future__ import annotations

import os
import threading

from pybpf.vm.helper_registry import HelperEnv, implements
from pybpf.vm.helpers_impl.common import EINVAL, task_override, zero_fill

TASK_COMM_LEN = 16


def current_comm() -> bytes:
    for path in ("/proc/thread-self/comm", "/proc/self/comm"):
        try:
            with open(path, "rb") as f:
                return f.read().rstrip(b"\n")[: TASK_COMM_LEN - 1]
        except OSError:
            continue
    return b"python"[: TASK_COMM_LEN - 1]


def current_cgroup_id() -> int:
    """The cgroup v2 id (inode of the cgroup directory) of this process, 0 when unknown."""
    path = _cgroup_path()
    try:
        return 0 if path is None else os.stat("/sys/fs/cgroup" + path).st_ino
    except OSError:
        return 0


@implements(14)
def get_current_pid_tgid(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_current_pid_tgid: (tgid << 32) | pid of the current thread."""
    task = task_override(env)
    tgid = int(task.get("tgid", os.getpid()))
    pid = int(task.get("pid", threading.get_native_id()))
    return ((tgid & 0xFFFFFFFF) << 32) | (pid & 0xFFFFFFFF)


@implements(15)
def get_current_uid_gid(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_current_uid_gid: (gid << 32) | uid of the current task."""
    task = task_override(env)
    uid = int(task.get("uid", os.getuid()))
    gid = int(task.get("gid", os.getgid()))
    return ((gid & 0xFFFFFFFF) << 32) | (uid & 0xFFFFFFFF)


@implements(16)
def get_current_comm(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_current_comm(buf, size): the task name, NUL-terminated and zero-padded (strscpy_pad)."""
    size = r2 & 0xFFFFFFFF
    if size == 0:
        return EINVAL
    comm = bytes(task_override(env).get("comm", current_comm()))[: TASK_COMM_LEN - 1]
    data = comm[: size - 1]
    zero_fill(env, r1, size)
    env.write(r1, data)
    return 0


@implements(80)
def get_current_cgroup_id(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_current_cgroup_id: the cgroup v2 id of the current task."""
    task = task_override(env)
    return int(task.get("cgroup_id", current_cgroup_id())) & 0xFFFFFFFFFFFFFFFF


def _cgroup_path() -> str | None:
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                hierarchy, _, path = line.rstrip("\n").split(":", 2)
                if hierarchy == "0":
                    return path
    except (OSError, ValueError):
        pass
    return None


@implements(123)
def get_current_ancestor_cgroup_id(
    env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int
) -> int:
    """bpf_get_current_ancestor_cgroup_id(level): the id of the task's cgroup ancestor at `level`
    (0 is the root), 0 when the cgroup is not that deep."""
    path = _cgroup_path()
    if path is None:
        return 0
    parts = [p for p in path.split("/") if p]
    level = r1 & 0xFFFFFFFF
    if level > len(parts):
        return 0
    try:
        return os.stat("/sys/fs/cgroup/" + "/".join(parts[:level])).st_ino
    except OSError:
        return 0


@implements(120)
def get_ns_current_pid_tgid(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_ns_current_pid_tgid(dev, ino, nsdata, size): pid and tgid in the pid namespace
    (dev, ino) of /proc/self/ns/pid; -EINVAL (and zeroed nsdata) for another namespace or size."""
    size = r4 & 0xFFFFFFFF
    try:
        st = os.stat("/proc/self/ns/pid")
        match = size == 8 and st.st_dev == r1 and st.st_ino == r2
    except OSError:
        match = False
    if not match:
        zero_fill(env, r3, size)
        return EINVAL
    task = task_override(env)
    pid = int(task.get("pid", threading.get_native_id()))
    tgid = int(task.get("tgid", os.getpid()))
    env.write(
        r3, (pid & 0xFFFFFFFF).to_bytes(4, "little") + (tgid & 0xFFFFFFFF).to_bytes(4, "little")
    )
    return 0
