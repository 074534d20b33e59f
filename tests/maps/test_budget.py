"""User-space maps are charged against a memory limit: huge specs fail with ENOMEM, not by exhausting the host."""

from __future__ import annotations

import errno
import gc

import pytest

from pybpf.abi import MapType
from pybpf.errors import MapError
from pybpf.maps import budget, create_map
from pybpf.object.spec import MapSpec


@pytest.mark.parametrize(
    ("mtype", "key", "value", "entries"),
    [(MapType.HASH, 8, 16384, 1 << 20), (MapType.LRU_HASH, 8, 4096, 1 << 22), (MapType.PERCPU_HASH, 8, 8192, 1 << 20),
     (MapType.LRU_PERCPU_HASH, 8, 8192, 1 << 20), (MapType.ARRAY, 4, 1 << 20, 1 << 16),
     (MapType.PERCPU_ARRAY, 4, 1 << 16, 1 << 18)],
)  # fmt: skip
def test_huge_maps_are_refused_with_enomem(monkeypatch: pytest.MonkeyPatch, mtype: MapType, key: int, value: int,
                                           entries: int) -> None:  # fmt: skip
    monkeypatch.setenv("PYBPF_MAP_MEMORY_LIMIT", "256M")
    gc.collect()  # maps earlier tests dropped return their charges now, not in the middle of the check
    gc.disable()
    try:
        before = budget.charged()
        with pytest.raises(MapError) as info:
            create_map(MapSpec("huge", mtype, key_size=key, value_size=value, max_entries=entries))
        after = budget.charged()
    finally:
        gc.enable()
    assert info.value.errno == errno.ENOMEM
    assert "'huge'" in str(info.value)
    if mtype not in (MapType.ARRAY, MapType.PERCPU_ARRAY):  # arrays meet the kernel's own size limit first
        assert "needs" in str(info.value) and "PYBPF_MAP_MEMORY_LIMIT" in str(info.value)
    assert after == before  # nothing was charged for the refused map


def test_charges_are_returned_when_maps_go_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBPF_MAP_MEMORY_LIMIT", "64M")
    gc.collect()
    spec = MapSpec("m", MapType.HASH, key_size=8, value_size=1024, max_entries=30000)  # ~32 MiB each
    maps = [create_map(spec), create_map(spec)]
    with pytest.raises(MapError, match="needs"):
        create_map(spec)  # a third one is over 64 MiB
    maps[0][1] = 5
    assert maps[0][1][:1] == b"\x05"
    del maps
    gc.collect()
    third = create_map(spec)  # the first two were uncharged
    assert len(third) == 0


def test_bad_limit_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBPF_MAP_MEMORY_LIMIT", "lots")
    with pytest.raises(MapError, match="is not a size"):
        create_map(MapSpec("m", MapType.ARRAY, key_size=4, value_size=4, max_entries=1))


def test_default_limit_is_half_the_memory() -> None:
    import os

    assert budget.limit() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
