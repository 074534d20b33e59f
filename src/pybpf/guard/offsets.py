"""Kernel struct field offsets read from the running kernel's BTF, for the guard's eBPF C.

The guard's programs walk `task_struct` (parent, mm, cwd, credentials, namespaces) with
bpf_probe_read_kernel at offsets that differ between kernel builds; they are computed here from
/sys/kernel/btf/vmlinux at load time and handed to the C as #defines (never frozen in a table).
"""

from __future__ import annotations

import functools

from pybpf.btf.types import Kind
from pybpf.errors import LoadError

# C macro name -> (struct, dotted member path). Anonymous structs/unions are searched through.
FIELDS: dict[str, tuple[str, str]] = {
    "OFF_TASK_PID": ("task_struct", "pid"),
    "OFF_TASK_TGID": ("task_struct", "tgid"),
    "OFF_TASK_REAL_PARENT": ("task_struct", "real_parent"),
    "OFF_TASK_MM": ("task_struct", "mm"),
    "OFF_TASK_FS": ("task_struct", "fs"),
    "OFF_TASK_CRED": ("task_struct", "cred"),
    "OFF_TASK_NSPROXY": ("task_struct", "nsproxy"),
    "OFF_TASK_EXIT_CODE": ("task_struct", "exit_code"),
    "OFF_TASK_THREAD_PID": ("task_struct", "thread_pid"),
    "OFF_PID_LEVEL": ("pid", "level"),
    "OFF_PID_NUMBERS": ("pid", "numbers"),
    "OFF_UPID_NS": ("upid", "ns"),
    "OFF_MM_ARG_START": ("mm_struct", "arg_start"),
    "OFF_MM_ARG_END": ("mm_struct", "arg_end"),
    "OFF_FS_PWD_DENTRY": ("fs_struct", "pwd.dentry"),
    "OFF_FS_PWD_MNT": ("fs_struct", "pwd.mnt"),
    "OFF_DENTRY_PARENT": ("dentry", "d_parent"),
    "OFF_DENTRY_NAME": ("dentry", "d_name.name"),
    "OFF_VFSMOUNT_ROOT": ("vfsmount", "mnt_root"),
    "OFF_MOUNT_MNT": ("mount", "mnt"),
    "OFF_MOUNT_PARENT": ("mount", "mnt_parent"),
    "OFF_MOUNT_MOUNTPOINT": ("mount", "mnt_mountpoint"),
    "OFF_CRED_EUID": ("cred", "euid"),
    "OFF_CRED_CAP_EFFECTIVE": ("cred", "cap_effective"),
    "OFF_CRED_CAP_PERMITTED": ("cred", "cap_permitted"),
    "OFF_CRED_CAP_INHERITABLE": ("cred", "cap_inheritable"),
    "OFF_CRED_USER_NS": ("cred", "user_ns"),
}

# matchNamespaces name -> (nsproxy member or None for the user namespace, namespace struct)
NAMESPACES: dict[str, tuple[str | None, str]] = {
    "Uts": ("uts_ns", "uts_namespace"),
    "Ipc": ("ipc_ns", "ipc_namespace"),
    "Mnt": ("mnt_ns", "mnt_namespace"),
    "Pid": ("pid_ns_for_children", "pid_namespace"),
    "PidForChildren": ("pid_ns_for_children", "pid_namespace"),
    "Net": ("net_ns", "net"),
    "Cgroup": ("cgroup_ns", "cgroup_namespace"),
    "Time": ("time_ns", "time_namespace"),
    "TimeForChildren": ("time_ns_for_children", "time_namespace"),
    "User": (None, "user_namespace"),
}


def _member_offset(btf: object, struct: str, path: str) -> int:
    """Byte offset of `path` (a.b.c) inside `struct`, searching anonymous members."""
    from pybpf.btf.btf import Btf

    assert isinstance(btf, Btf)
    t = btf.find(struct, Kind.STRUCT)
    if t is None:
        raise LoadError(f"kernel BTF has no struct {struct}")
    offset = 0
    for name in path.split("."):
        found = _find(btf, t.id, name)
        if found is None:
            raise LoadError(f"kernel BTF: struct {struct} has no member {path}")
        bits, type_id = found
        offset += bits // 8
        t = btf.skip_modifiers(type_id)
    return offset


def _find(btf: object, type_id: int, name: str) -> tuple[int, int] | None:
    """(bit offset, type id) of member `name` of a struct/union, looking into anonymous members."""
    t = btf.skip_modifiers(type_id)  # type: ignore[attr-defined]
    if t.kind not in (Kind.STRUCT, Kind.UNION):
        return None
    for m in t.members:
        if m.name == name:
            return m.bit_offset, m.type_id
        if not m.name:
            inner = _find(btf, m.type_id, name)
            if inner is not None:
                return m.bit_offset + inner[0], inner[1]
    return None


@functools.cache
def kernel_offsets() -> dict[str, int]:
    """Every #define the guard's C needs: the FIELDS above and each namespace's inum path."""
    from pybpf.btf.vmlinux import load_vmlinux

    btf = load_vmlinux()
    out = {macro: _member_offset(btf, struct, path) for macro, (struct, path) in FIELDS.items()}
    upid = btf.find("upid", Kind.STRUCT)
    if upid is None:
        raise LoadError("kernel BTF has no struct upid")
    out["SIZEOF_UPID"] = upid.size
    for ns, (member, struct) in NAMESPACES.items():
        key = ns.upper()
        try:
            out[f"OFF_NS_{key}_INUM"] = _member_offset(btf, struct, "ns.inum")
            if member is not None:
                out[f"OFF_NSPROXY_{key}"] = _member_offset(btf, "nsproxy", member)
        except LoadError:
            out[f"OFF_NS_{key}_INUM"] = -1  # this kernel lacks the namespace (Time before 5.6)
    return out


def namespace_available(ns: str) -> bool:
    return kernel_offsets().get(f"OFF_NS_{ns.upper()}_INUM", -1) >= 0
