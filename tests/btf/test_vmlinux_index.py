"""The kernel BTF's index cached per kernel build: the same types from the cache, a damaged cache parsed again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybpf.btf import vmlinux
from pybpf.btf.btf import Btf
from pybpf.btf.types import Kind

if not os.path.exists(vmlinux.VMLINUX_PATH):
    pytest.skip(f"this kernel has no {vmlinux.VMLINUX_PATH}", allow_module_level=True)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path))
    return Path(vmlinux.VMLINUX_PATH).read_bytes()


def _same(a: Btf, b: Btf) -> None:
    assert len(a) == len(b)
    for name, kind in (("task_struct", Kind.STRUCT), ("pid_t", Kind.TYPEDEF), ("int", Kind.INT)):
        ta, tb = a.find(name, kind), b.find(name, kind)
        assert ta is not None and tb is not None and ta.id == tb.id and a.sizeof(ta.id) == b.sizeof(tb.id)
    last = len(a)  # ids run 1..len-1 (0 is void)
    assert a.type(last - 1).name == b.type(last - 1).name


def test_index_is_cached_and_gives_the_same_types(data: bytes, tmp_path: Path) -> None:
    first = vmlinux._parse_indexed(data, "vmlinux")
    (cached,) = (tmp_path / "btf").glob("vmlinux-*.index")
    assert cached.name == f"vmlinux-{len(data)}-{__import__('zlib').crc32(data):08x}.index"
    second = vmlinux._parse_indexed(data, "vmlinux")
    assert second._by_name is not None  # the name index came from the cache, not from a scan
    _same(first, second)
    _same(Btf.parse(data), second)


def test_a_damaged_or_foreign_index_is_ignored_and_rewritten(data: bytes, tmp_path: Path) -> None:
    vmlinux._parse_indexed(data, "vmlinux")
    (cached,) = (tmp_path / "btf").glob("vmlinux-*.index")
    good = cached.read_bytes()
    for damaged in (good[: len(good) // 3], b"not marshal", b""):
        cached.write_bytes(damaged)
        _same(Btf.parse(data), vmlinux._parse_indexed(data, "vmlinux"))
        assert cached.read_bytes() == good  # rewritten whole
    with pytest.raises(Exception, match="does not fit"):
        Btf.parse(data, index=(b"", b"\x01", b"", {}))
