"""Robustness over ../shared/ebpf-samples: every real object loads sensibly, malformed ones fail cleanly."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

import pytest

from pybpf.abi import MapType, ProgramType
from pybpf.errors import ObjectError
from pybpf.object import load_bytes, load_file
from testlib import SHARED, shared_path

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"
SAMPLES = SHARED / "ebpf-samples"


def _manifest() -> list[list[str]]:
    path = SAMPLES / "MANIFEST.tsv"
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]


def _expected_programs() -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    path = SAMPLES / "expected" / "expected_results.csv"
    if path.exists():
        for row in csv.DictReader(path.open()):
            if row["present"] == "True" and row["section"]:
                out[f"{row['project']}/{row['object']}"].add((row["section"], row["function"]))
    return out


MANIFEST = _manifest()
VALID = [row for row in MANIFEST if not row[0].startswith("invalid/") and not row[0].endswith(".json")]
INVALID = [row[0] for row in MANIFEST if row[0].startswith("invalid/")]
# Files in invalid/ whose ELF structure is broken (the others are well-formed objects whose *programs*
# are unsafe; they load here and are the verifier's business).
STRUCTURALLY_BROKEN = {
    "invalid/58087ea4ff41695f3186d628a3250b26dc8d237a": "invalid BTF kind 0",
    "invalid/ab3408afd06d68dd7e73bf21bde38350d9751a78": "invalid BTF kind 0",
    "invalid/662b334a22904023c13f11008e072076a4f4d215": "outside the string table",
    "invalid/806cc077e56f0ec32236c99055714f63649e7a38": "runs past the end of the file",
    "invalid/af99e766f6ba44fd7f2135c3e325c817224b99a3": "outside the string table",
    "invalid/badsymsize.o": "symbol table entry size",
    "invalid/c049438cf649269921736e7306231385350dea58": "outside the string table",
    "invalid/invalid-lddw.o": "lddw",
}


@pytest.mark.parametrize("row", VALID, ids=[r[0] for r in VALID])
def test_sample_loads_sensibly(row: list[str]) -> None:
    path = shared_path("ebpf-samples", row[0])
    spec = load_file(path)
    license_, exec_sections = row[3], row[4]
    assert spec.license == license_
    if exec_sections and int(exec_sections) > 0:
        assert spec.programs
    for prog in spec.programs.values():
        assert prog.instructions and prog.section
        assert isinstance(prog.type, ProgramType)
        for ref in prog.map_references:
            assert ref.map_name in spec.maps and ref.kind in ("fd", "value")
    for m in spec.maps.values():
        assert isinstance(m.type, MapType)
        for key, value in m.contents:
            assert len(key) == m.key_size and len(value) == m.value_size
    expected = _expected_programs().get(row[0])
    if expected:
        got = {(p.section, p.name) for p in spec.programs.values()}
        assert got <= expected
        # PREVAIL also lists global functions in .text; libbpf (and pybpf) link them as sub-programs.
        assert all(section == ".text" for section, _ in expected - got)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_sample_fails_cleanly(name: str) -> None:
    path = shared_path("ebpf-samples", name)
    if name in STRUCTURALLY_BROKEN:
        with pytest.raises(ObjectError, match=STRUCTURALLY_BROKEN[name]):
            load_file(path)
    else:
        load_file(path)  # well-formed ELF; rejecting its programs is the verifier's job


def test_invalid_sample_classification_is_complete() -> None:
    shared_path("ebpf-samples")
    assert set(STRUCTURALLY_BROKEN) <= set(INVALID)


# -- fuzzing ------------------------------------------------------------------------------------

FUZZ_OBJECTS = ["xdp_counter.o", "legacy_maps.o", "calls.o", "map_in_map.o", "core.o", "kconfig.o", "kfunc.o", "struct_ops.o"]


def _only_object_errors(data: bytes) -> None:
    try:
        load_bytes(data, "fuzz.o")
    except ObjectError:
        pass


def _truncations(name: str, step: int) -> None:
    data = (OBJECTS / name).read_bytes()
    for end in range(0, len(data), step):
        _only_object_errors(data[:end])


def _flips(name: str, count: int, seed: int) -> None:
    data = (OBJECTS / name).read_bytes()
    rng = random.Random(seed)
    for _ in range(count):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(mutated))
            mutated[pos] = rng.randrange(256) if rng.random() < 0.5 else mutated[pos] ^ (1 << rng.randrange(8))
        _only_object_errors(bytes(mutated))


@pytest.mark.parametrize("name", FUZZ_OBJECTS)
def test_fuzz_sample(name: str) -> None:
    _truncations(name, 37)
    _flips(name, 150, seed=sum(map(ord, name)))


@pytest.mark.slow
@pytest.mark.parametrize("name", FUZZ_OBJECTS)
def test_fuzz_full(name: str) -> None:
    _truncations(name, 1)
    _flips(name, 5000, seed=1234 + sum(map(ord, name)))
