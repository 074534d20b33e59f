"""The JIT's native hash-map lookup (pybpf.vm.jit.native_hash) per key size, against a Python model.

The search is emitted once per common key size (4, 8) and once for any size (12, 2 here). Each
map holds keys put there from Python, some deleted again (tombstones in the probe sequences),
and pairs of keys with the same FNV-1a hash (found offline, checked below with the table's own
hash function), one present and one absent: a search that compared only the hash, or too few of
the key's bytes, finds the absent one. Expected values come from a dict the test keeps.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from pybpf.engines import Runtime
from pybpf.maps.hashtab import fnv1a

DATA = Path(__file__).resolve().parent / "data"
MISS = 0xFFFF
# (map selector, map name, key size, same-hash pairs: the first key is stored, the second never)
MAPS: tuple[tuple[int, str, int, list[tuple[str, str]]], ...] = (
    (0, "k4", 4, [("b0cd0cb2", "02deafa6"), ("f815f9a1", "9c6ec358")]),
    (1, "k8", 8, [("df7b8bcf0b3c4c59", "df7b8bcf2f855040"), ("df7b8bcf723c9fde", "df7b8bcf5eb535d9")]),
    (2, "k12", 12, [("1101646ea07721d41a6a677c", "1101646ea07721d43e0b4147"),
                    ("1101646ea07721d475486977", "1101646ea07721d451e94b78")]),
    (3, "k2", 2, []),
)


@pytest.fixture(scope="module")
def hash_keys_spec():
    import pybpf.toolchain as toolchain
    if not toolchain.zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.object import load_file

    return load_file(toolchain.compile_c(DATA / "hash_keys.c"))


def test_colliding_pairs_share_a_hash() -> None:
    for _, _, size, pairs in MAPS:
        for stored, absent in pairs:
            a, b = bytes.fromhex(stored), bytes.fromhex(absent)
            assert len(a) == len(b) == size and a != b and fnv1a(a) == fnv1a(b)


def _fill(m, size: int, pairs: list[tuple[str, str]], rng: random.Random) -> tuple[dict[bytes, int], list[bytes]]:
    """Put keys into map `m` (deleting some again); returns the model and keys to look up."""
    model: dict[bytes, int] = {}
    keys = [rng.getrandbits(8 * size).to_bytes(size, "little") for _ in range(60)]
    for k in keys[:50]:
        value = rng.getrandbits(32)
        m[k] = value.to_bytes(8, "little")
        model[k] = value
    for k in keys[:50:3]:  # leave tombstones in the probe sequences
        del m[k]
        del model[k]
    for k in keys[:12:6]:  # and put some back
        m[k] = (7).to_bytes(8, "little")
        model[k] = 7
    probes = list(keys)
    for stored, absent in pairs:
        k = bytes.fromhex(stored)
        m[k] = (0xABCD).to_bytes(8, "little")
        model[k] = 0xABCD
        probes += [k, bytes.fromhex(absent)]
    for k in list(model)[:10]:  # neighbours differing in the first or the last byte
        probes += [bytes([k[0] ^ 1]) + k[1:], k[:-1] + bytes([k[-1] ^ 0x80])]
    return model, probes


@pytest.mark.parametrize("unsafe", [False, True], ids=["checked", "unsafe"])
def test_lookup_by_key_size_matches_the_model(hash_keys_spec, unsafe: bool) -> None:
    rng = random.Random(13)
    with Runtime("jit", verify=False, unsafe_fast=unsafe).load(hash_keys_spec) as coll:
        prog = coll.programs["hash_keys"]
        for which, name, size, pairs in MAPS:
            model, probes = _fill(coll.maps[name], size, pairs, rng)
            for key in probes:
                packet = (bytes([which]) + key).ljust(64, b"\0")
                expected = model.get(key, MISS) & 0xFFFFFFFF
                assert prog.run(packet).retval == expected, (name, key.hex())


LOOKUP_AT = """
    r1 = 0 ll
    r2 = r10
    r2 += {offset}
    call 1
    r0 = 7
    exit
"""


def _key_spec(key_size: int, offset: int):
    from pybpf.abi import MapType
    from pybpf.isa import assemble
    from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

    program = ProgramSpec("p", tuple(assemble(LOOKUP_AT.format(offset=offset), syntax="llvm")),
                          map_references=(MapReference(pc=0, map_name="h"),))
    return CollectionSpec(programs={"p": program}, maps={"h": MapSpec("h", MapType.HASH, key_size, 8, 4)})


def _outcome(engine: str, key_size: int, offset: int) -> tuple[object, ...]:
    from pybpf.errors import RuntimeFault

    with Runtime(engine, verify=False).load(_key_spec(key_size, offset)) as coll:
        try:
            return ("ok", coll.programs["p"].run(b"").retval)
        except RuntimeFault as exc:
            return ("fault", re.sub(r"0x[0-9a-f]+", "ADDR", exc.reason), exc.pc)  # addresses differ


@pytest.mark.parametrize("key_size", [4, 8, 12, 2])
def test_a_key_crossing_the_frame_top_faults_like_the_interpreter(key_size: int) -> None:
    """The key's bounds check is made per key-size copy: one byte past r10 faults, flush with it does not."""
    crossing = _outcome("interp", key_size, 1 - key_size)
    assert crossing[0] == "fault"
    assert _outcome("jit", key_size, 1 - key_size) == crossing
    assert _outcome("jit", key_size, -key_size) == _outcome("interp", key_size, -key_size) == ("ok", 7)
