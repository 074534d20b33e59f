"""Pinning on bpffs: pin a map and re-open it, LIBBPF_PIN_BY_NAME reuse across loads, pinned links."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pybpf.errors import KernelError, LoadError
from pybpf.kernel import pin
from pybpf.kernel.info import map_info
from pybpf.kernel.kernel_engine import load_collection
from pybpf.kernel.maps import KernelMap
from pybpf.object.spec import CollectionSpec

from .progs import counter_collection, counter_map, packet

pytestmark = pytest.mark.kernel


@pytest.fixture
def pin_dir() -> Iterator[Path]:
    pin.ensure_bpffs()
    d = Path(pin.BPFFS) / f"pybpf_test_{os.getpid()}"
    d.mkdir(exist_ok=True)
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def test_pin_and_reopen_map(pin_dir: Path) -> None:
    path = str(pin_dir / "counts")
    with KernelMap.create(counter_map()) as m:
        m[0] = 41
        m.pin(path)
        mid = map_info(m.fd).id
    # the pin keeps the map alive after its last fd closed
    with pin.get_object(path) as fd:
        again = KernelMap(counter_map(), fd.dup())
        with again:
            assert map_info(again.fd).id == mid
            assert again[0] == (41).to_bytes(8, "little")
            again[0] = 42
    with KernelMap(counter_map(), pin.get_object(path)) as third:
        assert third[0] == (42).to_bytes(8, "little")
    pin.unpin(path)
    with pytest.raises(KernelError) as exc:
        pin.get_object(path)
    assert "cannot open pinned object" in str(exc.value)


def test_pin_by_name_shares_map_between_loads(pin_dir: Path) -> None:
    base = counter_collection()
    spec = CollectionSpec(programs=base.programs, maps={"counts": replace(base.maps["counts"], pinning=1)})
    with load_collection(spec, pin_path=str(pin_dir)) as first:
        first.programs["count"].run(packet(), repeat=4)
        assert (pin_dir / "counts").exists()
    with load_collection(spec, pin_path=str(pin_dir)) as second:
        second.programs["count"].run(packet())
        assert second.maps["counts"][0] == (5).to_bytes(8, "little")  # state kept by the pin
    bad = CollectionSpec(programs=base.programs,
                         maps={"counts": replace(base.maps["counts"], pinning=1, max_entries=9)})
    with pytest.raises(LoadError):
        load_collection(bad, pin_path=str(pin_dir))


def test_pin_program(pin_dir: Path) -> None:
    path = str(pin_dir / "prog")
    with load_collection(counter_collection()) as coll:
        coll.programs["count"].pin(path)
    with pin.get_object(path) as fd:
        from pybpf.kernel.info import prog_info

        assert prog_info(fd.fd).name == "count"


def test_open_existing_map_by_id_and_pin(pin_dir: Path) -> None:
    path = str(pin_dir / "opened")
    with KernelMap.create(counter_map()) as m:
        m[0] = 77
        m.pin(path)
        mid = map_info(m.fd).id
        with KernelMap.open(mid) as by_id, KernelMap.open(str(mid)) as by_digits, KernelMap.open(path) as by_pin:
            for other in (by_id, by_digits, by_pin):
                assert other.name == "counts" and other.value_size == 8 and other[0] == (77).to_bytes(8, "little")
    with pytest.raises(KernelError):
        KernelMap.open(str(pin_dir / "absent"))


def test_pinning_can_be_turned_off(pin_dir: Path) -> None:
    base = counter_collection()
    spec = CollectionSpec(programs=base.programs, maps={"counts": replace(base.maps["counts"], pinning=1)})
    with load_collection(spec, pin_path=None) as coll:
        coll.programs["count"].run(packet())
    assert not (pin_dir / "counts").exists() and not os.path.exists(os.path.join(pin.BPFFS, "counts"))
    with load_collection(spec, pin_path=None) as coll:
        assert coll.maps["counts"][0] == bytes(8)  # a fresh map each time
