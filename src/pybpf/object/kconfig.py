"""`extern ... __kconfig` variables: the `.kconfig` map's layout and its values from the kernel configuration."""

from __future__ import annotations

import functools
import gzip
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pybpf.abi import MapType
from pybpf.btf.btf import Btf
from pybpf.btf.types import INT_BOOL, Kind
from pybpf.errors import ObjectError
from pybpf.object.spec import MapSpec

KCONFIG_SECTION = ".kconfig"
MAX_KCONFIG_SIZE = 1 << 16
_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_NOT_SET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


@dataclass(frozen=True, slots=True)
class KconfigVar:
    """One `.kconfig` extern: its place in the map value and its BTF type."""

    name: str
    offset: int
    size: int
    type_id: int
    weak: bool


def kernel_version_code(release: str) -> int:
    """KERNEL_VERSION(a, b, c) of a release string such as "6.18.44-foo" (c capped at 255)."""
    nums = [int(x) for x in re.findall(r"\d+", release)[:3]] + [0, 0, 0]
    return (nums[0] << 16) + (nums[1] << 8) + min(nums[2], 255)


def parse_config(text: str) -> dict[str, str]:
    """CONFIG_* values of a kernel .config ("y", "m", numbers, quoted strings; "n" when not set)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2)
            continue
        m = _NOT_SET.match(line.strip())
        if m:
            out[m.group(1)] = "n"
    return out


def system_kconfig() -> dict[str, str]:
    """The running kernel's configuration (/proc/config.gz or /boot/config-RELEASE) plus LINUX_KERNEL_VERSION."""
    return dict(_system_kconfig())


@functools.cache
def _system_kconfig() -> dict[str, str]:
    """Read once per process: the configuration does not change under a running kernel."""
    release = os.uname().release
    version = kernel_version_code(release)
    values: dict[str, str] = {
        "LINUX_KERNEL_VERSION": str(version),
        # libbpf's synthetic externs: attach cookies exist since 5.15; the syscall wrapper is
        # looked up in the kernel's symbols (BPF_KSYSCALL reads the arguments through it)
        "LINUX_HAS_BPF_COOKIE": "y" if version >= (5 << 16) + (15 << 8) else "n",
        "LINUX_HAS_SYSCALL_WRAPPER": "y" if _has_syscall_wrapper(version) else "n",
    }
    for path in (Path("/proc/config.gz"), Path(f"/boot/config-{release}")):
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        try:
            text = gzip.decompress(raw).decode("utf-8", "replace") if path.suffix == ".gz" else raw.decode(
                "utf-8", "replace")
        except (OSError, EOFError):
            continue
        values.update(parse_config(text))
        break
    return values


_SYSCALL_PREFIX = {"x86_64": "__x64_sys_", "aarch64": "__arm64_sys_", "s390x": "__s390x_sys_",
                   "riscv64": "__riscv_sys_", "ppc64le": "sys_", "loongarch64": "sys_"}


def _has_syscall_wrapper(version: int) -> bool:
    """Whether syscalls enter through arch wrappers taking a struct pt_regs * (`__x64_sys_bpf`)."""
    prefix = _SYSCALL_PREFIX.get(os.uname().machine)
    if prefix is None or prefix == "sys_":
        return False
    wanted = f" {prefix}bpf"
    try:
        with open("/proc/kallsyms", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.rstrip("\n").endswith(wanted) and line.count(" ") == 2:
                    return True
        return False
    except OSError:
        return version >= (4 << 16) + (17 << 8)  # the wrappers came with 4.17 (x86) / 4.19 (arm64)


def layout(btf: Btf, weak_names: set[str]) -> list[KconfigVar]:
    """Offsets of the `.kconfig` DATASEC's variables, each aligned naturally, in declaration order."""
    sec = btf.find(KCONFIG_SECTION, Kind.DATASEC)
    if sec is None:
        return []
    out = []
    off = 0
    for info in sec.secinfos:
        var = btf.type(info.type_id)
        if var.kind != Kind.VAR:
            raise ObjectError(f"{KCONFIG_SECTION}: entry {info.type_id} is a {var.kind.name}, not a VAR")
        size = btf.sizeof(var.type_id)
        align = btf.alignof(var.type_id)
        off = (off + align - 1) // align * align
        out.append(KconfigVar(var.name, off, size, var.type_id, var.name in weak_names))
        off += size
    return out


def _encode(btf: Btf, var: KconfigVar, text: str) -> bytes:
    t = btf.skip_modifiers(var.type_id)
    if t.kind == Kind.ARRAY:
        if not (text.startswith('"') and text.endswith('"') and len(text) >= 2):
            raise ObjectError(f"kconfig {var.name}: {text!r} is not a string value")
        raw = text[1:-1].encode()[: var.size - 1]
        return raw.ljust(var.size, b"\0")
    if t.kind in (Kind.ENUM, Kind.ENUM64):  # enum libbpf_tristate
        values = {"n": 0, "y": 1, "m": 2}
        if text not in values:
            raise ObjectError(f"kconfig {var.name}: {text!r} is not a tristate value")
        return values[text].to_bytes(var.size, "little")
    if t.kind == Kind.INT:
        if t.encoding & INT_BOOL or t.name in ("bool", "_Bool"):
            if text not in ("y", "n"):
                raise ObjectError(f"kconfig {var.name}: {text!r} is not a bool value")
            return (1 if text == "y" else 0).to_bytes(var.size, "little")
        if text in ("y", "n", "m"):
            return {"n": 0, "y": 1, "m": 2}[text].to_bytes(var.size, "little")
        try:
            value = int(text, 0)
        except ValueError:
            raise ObjectError(f"kconfig {var.name}: {text!r} is not an integer") from None
        mask = (1 << (8 * var.size)) - 1
        return (value & mask).to_bytes(var.size, "little")
    raise ObjectError(f"kconfig {var.name}: unsupported type {t.kind.name}")


def kconfig_map(btf: Btf, variables: list[KconfigVar], values: Mapping[str, str]) -> MapSpec:
    """The frozen single-entry `.kconfig` array holding every extern's value."""
    size = max((v.offset + v.size for v in variables), default=0)
    if size > MAX_KCONFIG_SIZE:
        raise ObjectError(f"{KCONFIG_SECTION}: externs need {size} bytes, more than any kernel config value")
    data = bytearray(max(size, 1))
    for var in variables:
        text = values.get(var.name)
        if text is None:
            if var.weak:
                continue
            raise ObjectError(f"extern (kconfig) {var.name!r}: value not found in the kernel configuration")
        data[var.offset : var.offset + var.size] = _encode(btf, var, text)
    sec = btf.find(KCONFIG_SECTION, Kind.DATASEC)
    return MapSpec(
        name=KCONFIG_SECTION,
        type=MapType.ARRAY,
        key_size=4,
        value_size=len(data),
        max_entries=1,
        contents=((bytes(4), bytes(data)),),
        frozen=True,
        value_type_id=sec.id if sec is not None else 0,
        section=KCONFIG_SECTION,
    )
