"""Randomised checks: LPM against a brute-force model, ring buffer against a queue model, and bad
input never escaping as anything but MapError."""

from __future__ import annotations

import random
import struct

import pytest

from pybpf.abi import MapType
from pybpf.errors import BpfError, MapError
from pybpf.maps import RingBuffer, create_map
from pybpf.object.spec import MapSpec


def brute_force_lpm(
    entries: dict[tuple[int, int], bytes], prefixlen: int, addr: int
) -> bytes | None:
    """Longest stored prefix (plen <= prefixlen) whose top plen bits equal addr's, on 32-bit ints."""
    best = None
    best_len = -1
    for (plen, net), value in entries.items():
        if plen > prefixlen or plen <= best_len:
            continue
        mask = ((1 << plen) - 1) << (32 - plen) if plen else 0
        if (addr & mask) == (net & mask):
            best, best_len = value, plen
    return best


def test_lpm_against_brute_force() -> None:
    rng = random.Random(11)
    m = create_map(MapSpec("lpm", MapType.LPM_TRIE, 8, 4, 200, flags=1))
    model: dict[tuple[int, int], bytes] = {}
    for _ in range(1500):
        plen = rng.choice([0, 1, 7, 8, 9, 12, 16, 20, 24, 28, 31, 32, rng.randrange(33)])
        addr = rng.getrandbits(32) & rng.choice([0xFFFFFFFF, 0xFF000000, 0xFFFF0000, 0x0A0000FF])
        key = struct.pack("<I", plen) + addr.to_bytes(4, "big")
        mask = ((1 << plen) - 1) << (32 - plen) if plen else 0
        op = rng.random()
        if op < 0.45:
            value = rng.randbytes(4)
            if (plen, addr & mask) not in model and len(model) == 200:
                continue
            m.update(key, value)
            model[(plen, addr & mask)] = value
        elif op < 0.6:
            if (plen, addr & mask) in model:
                m.delete(key)
                del model[(plen, addr & mask)]
            else:
                with pytest.raises(MapError):
                    m.delete(key)
        else:
            assert m.lookup(key) == brute_force_lpm(model, plen, addr), (plen, hex(addr))
    assert len(m) == len(model)


def test_ringbuf_against_a_queue_model() -> None:
    rng = random.Random(21)
    rb = create_map(MapSpec("rb", MapType.RINGBUF, 0, 0, 8192))
    assert isinstance(rb, RingBuffer)
    reserved: list[tuple[int, int, bytes]] = []  # (reservation number, address, payload)
    outcome: dict[int, bytes | None] = {}  # reservation number -> payload (None: discarded)
    got: list[bytes] = []
    count = 0
    for _ in range(4000):
        op = rng.random()
        if op < 0.4:
            size = rng.choice([0, 1, 7, 8, 9, 100, 500, 1000])
            address = rb.reserve(size)
            if address:
                payload = rng.randbytes(size)
                rb.mem[address - rb.base : address - rb.base + size] = payload
                reserved.append((count, address, payload))
                count += 1
        elif op < 0.7 and reserved:
            number, address, payload = reserved.pop(rng.randrange(len(reserved)))
            discard = rng.random() < 0.2
            rb.commit(address, discard=discard)
            outcome[number] = None if discard else payload
        else:
            got.extend(rb.consume(rng.randrange(1, 5)))
    for number, address, payload in reserved:
        rb.commit(address)
        outcome[number] = payload
    got.extend(rb.consume())
    # every submitted record is read once, in reservation order; discarded ones never
    expected = [p for n in range(count) if (p := outcome[n]) is not None]
    assert got == expected
    assert rb.consumer_pos == rb.producer_pos
    assert count > 500


MAP_TYPES = [
    MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
    MapType.LRU_PERCPU_HASH, MapType.LPM_TRIE, MapType.QUEUE, MapType.STACK, MapType.RINGBUF,
    MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS,
    MapType.DEVMAP, MapType.SOCKMAP, MapType.ARENA, MapType.USER_RINGBUF, MapType.CPUMAP, MapType.BLOOM_FILTER,
    MapType.DEVMAP_HASH,
]  # fmt: skip


def test_bad_input_only_raises_bpf_errors() -> None:
    rng = random.Random(31)
    inner = MapSpec("inner", MapType.ARRAY, 4, 4, 2)
    for _ in range(600):
        map_type = rng.choice(MAP_TYPES)
        spec = MapSpec(
            "fuzz", map_type, rng.choice([0, 1, 3, 4, 8, 300]), rng.choice([0, 1, 4, 8, 5000]),
            rng.choice([0, 1, 2, 4096, 1 << 40, 1 << 31]), flags=rng.choice([0, 1, 2, 1 << 7, 1 << 12, -1, 1 << 40]),
            inner_map=rng.choice([None, inner]),
        )  # fmt: skip
        try:
            m = create_map(spec)
        except BpfError:
            continue
        for _ in range(20):
            key = rng.randbytes(rng.choice([0, 1, 4, 8, spec.key_size]))
            raw = rng.randbytes(rng.choice([0, 1, 4, 8, spec.value_size]))
            value: bytes | list[bytes] = (
                [raw] * rng.choice([1, 2, 3]) if rng.random() < 0.2 else raw
            )
            flags = rng.choice([0, 1, 2, 3, 4, -1, 1 << 63])
            for op in ("lookup", "update", "delete", "next_key", "items", "len"):
                try:
                    if op == "lookup":
                        m.lookup(key)
                    elif op == "update":
                        m.update(key, value, flags)
                    elif op == "delete":
                        m.delete(key)
                    elif op == "next_key":
                        m.next_key(rng.choice([None, key]))
                    elif op == "items":
                        list(m.items())
                    else:
                        len(m)
                except BpfError:
                    pass
            for call in (m.value_address, m.prog_lookup):
                call(key, rng.choice([0, 1, 1000]))
            for result in (m.prog_update(key, raw, flags & (2**64 - 1)),
                           m.prog_delete(key)):  # fmt: skip
                assert isinstance(result, int) and result <= 0
