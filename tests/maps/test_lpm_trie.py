"""LPM trie: longest-prefix match, exact delete, ENOSPC when full, post-order iteration."""

from __future__ import annotations

import errno
import struct

import pytest

from maps.maputil import spec
from pybpf.abi import MapType, UpdateFlags
from pybpf.errors import MapError
from pybpf.maps import NativeMap, create_map
from pybpf.maps.lpm_trie import mask_prefix

NO_PREALLOC = 1


def key(prefixlen: int, dotted: str) -> bytes:
    return struct.pack("<I", prefixlen) + bytes(int(p) for p in dotted.split("."))


def trie(max_entries: int = 16) -> NativeMap:
    return create_map(spec(MapType.LPM_TRIE, 8, 4, max_entries, flags=NO_PREALLOC))


def err(fn: object, *args: object) -> int:
    with pytest.raises(MapError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.errno


def test_mask_prefix() -> None:
    assert mask_prefix(bytes([10, 1, 2, 3]), 8) == bytes([10, 0, 0, 0])
    assert mask_prefix(bytes([0xFF, 0xFF]), 9) == bytes([0xFF, 0x80])
    assert mask_prefix(bytes([0xFF, 0xFF]), 0) == bytes(2)
    assert mask_prefix(bytes([0xAB]), 8) == bytes([0xAB])


def test_longest_prefix_wins() -> None:
    m = trie()
    m.update(key(8, "10.0.0.0"), b"/8..")
    m.update(key(16, "10.1.0.0"), b"/16.")
    m.update(key(24, "10.1.2.0"), b"/24.")
    m.update(key(0, "0.0.0.0"), b"dflt")
    lookup = m.lookup
    assert lookup(key(32, "10.1.2.3")) == b"/24."
    assert lookup(key(32, "10.1.9.9")) == b"/16."
    assert lookup(key(32, "10.200.0.1")) == b"/8.."
    assert lookup(key(32, "192.168.0.1")) == b"dflt"
    # the key's own prefixlen bounds the match
    assert lookup(key(20, "10.1.2.3")) == b"/16."
    assert lookup(key(33, "10.1.2.3")) is None  # longer than the trie's 32 bits: no match


def test_bit_level_prefixes() -> None:
    m = trie()
    m.update(key(9, "10.128.0.0"), b"hi..")
    m.update(key(9, "10.0.0.0"), b"lo..")
    assert m.lookup(key(32, "10.200.1.1")) == b"hi.."
    assert m.lookup(key(32, "10.127.1.1")) == b"lo.."
    assert m.lookup(key(32, "11.0.0.0")) is None


def test_update_flags_and_errors() -> None:
    m = trie(2)
    u = m.update
    u(key(8, "10.1.2.3"), b"aaaa")
    assert err(u, key(8, "10.9.9.9"), b"bbbb", UpdateFlags.NOEXIST) == errno.EEXIST  # same /8
    u(key(8, "10.9.9.9"), b"bbbb", UpdateFlags.EXIST)
    assert err(u, key(16, "10.1.0.0"), b"cccc", UpdateFlags.EXIST) == errno.ENOENT
    u(key(16, "10.1.0.0"), b"cccc")
    assert err(u, key(24, "10.1.2.0"), b"dddd") == errno.ENOSPC  # full
    assert err(u, key(33, "10.1.2.0"), b"dddd") == errno.EINVAL
    assert err(u, key(8, "10.1.2.0"), b"dddd", 3) == errno.EINVAL
    # the stored key is the last one written, unmasked
    assert sorted(m.keys()) == sorted([key(8, "10.9.9.9"), key(16, "10.1.0.0")])


def test_delete_needs_the_exact_prefix() -> None:
    m = trie()
    m.update(key(16, "10.1.9.9"), b"aaaa")
    assert err(m.delete, key(24, "10.1.9.0")) == errno.ENOENT
    assert err(m.delete, key(40, "10.1.9.0")) == errno.EINVAL
    m.delete(key(16, "10.1.0.0"))
    assert len(m) == 0


def test_iteration_is_post_order() -> None:
    m = trie()
    entries = [
        (8, "10.0.0.0"), (16, "10.1.0.0"), (24, "10.1.0.0"), (24, "10.1.128.0"), (16, "10.0.0.0"),
        (24, "10.0.5.0"), (0, "0.0.0.0"), (32, "10.1.0.1"), (9, "10.128.0.0"),
    ]  # fmt: skip
    for plen, addr in entries:
        m.update(key(plen, addr), b"xxxx")
    expected = [
        (24, "10.0.5.0"),
        (16, "10.0.0.0"),
        (32, "10.1.0.1"),
        (24, "10.1.0.0"),
        (24, "10.1.128.0"),
        (16, "10.1.0.0"),
        (9, "10.128.0.0"),
        (8, "10.0.0.0"),
        (0, "0.0.0.0"),
    ]  # fmt: skip (the order the Linux kernel returns for these keys)
    assert list(m.keys()) == [key(p, a) for p, a in expected]
    assert m.next_key(key(20, "1.2.3.4")) == key(24, "10.0.5.0")
    assert m.next_key(key(0, "0.0.0.0")) is None


@pytest.mark.parametrize(("key_size", "flags"), [(8, 0), (4, NO_PREALLOC), (261, NO_PREALLOC)])
def test_create_rejects(key_size: int, flags: int) -> None:
    assert err(create_map, spec(MapType.LPM_TRIE, key_size, 4, 4, flags=flags)) == errno.EINVAL


def test_program_side_lookup_and_value_address() -> None:
    m = trie()
    m.update(key(8, "10.0.0.0"), b"aaaa")
    addr = m.value_address(key(32, "10.2.3.4"))
    assert addr is not None
    assert m.value_span(addr + 1) == (addr, 4)
    assert m.prog_update(key(16, "10.2.0.0"), b"bbbb") == 0
    assert m.prog_update(key(40, "10.2.0.0"), b"bbbb") == -errno.EINVAL
    assert m.prog_delete(key(16, "10.2.0.0")) == 0
    assert m.prog_delete(key(16, "10.2.0.0")) == -errno.ENOENT
