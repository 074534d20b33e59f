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

from pybpf.vm.env import HelperEnv, implements
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
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                hierarchy, _, path = line.rstrip("\n").split(":", 2)
                if hierarchy == "0":
                    return os.stat("/sys/fs/cgroup" + path).st_ino
    except (OSError, ValueError):
        pass
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
