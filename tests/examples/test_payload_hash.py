"""examples/payload_hash.c: bpf-to-bpf calls, a bounded loop and .rodata/.data/.bss globals."""
# ruff: noqa: F811 - the fixtures come from examples_support (no conftest.py: see there)

from __future__ import annotations

import dataclasses
import struct

from examples_support import example_objects, load  # noqa: F401

from pybpf.hooks.packets import tcp_packet, udp_packet

XDP_DROP, XDP_PASS = 1, 2
FNV_BASIS, FNV_PRIME = 2166136261, 16777619


def fnv1a(data: bytes, basis: int = FNV_BASIS) -> int:
    h = basis
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return h


def totals(coll) -> tuple[int, int, int, int]:
    """struct totals { u64 packets; u64 bytes; u32 last_hash; u32 drops; } in .bss."""
    return struct.unpack("<QQII", coll.maps[".bss"][0][:24])


def test_program_has_subprograms_and_a_loop(example_objects) -> None:
    from pybpf.object import load_file

    spec = load_file(example_objects["payload_hash"])
    prog = spec.programs["hash_payload"]
    insns = prog.instructions
    local_calls = [i for i in insns if i.opcode == 0x85 and i.src == 1]
    assert len(local_calls) == 2  # udp_payload_offset() and fnv1a()
    back_edges = [pc for pc, i in enumerate(insns)
                  if i.opcode & 0x07 in (0x05, 0x06) and i.opcode not in (0x85, 0x95) and i.off < 0]
    assert back_edges, "the bounded loop was unrolled away"
    assert {".rodata", ".data", ".bss"} <= set(spec.maps)


def test_hashes_udp_payloads(load) -> None:
    coll = load("payload_hash")
    prog = coll.programs["hash_payload"]
    payloads = [b"hello world, this is longer than sixteen bytes", b"short", b""]
    for payload in payloads:
        assert prog.run(udp_packet(dport=9999, payload=payload)).retval == XDP_PASS
    assert prog.run(tcp_packet(payload=b"not udp")).retval == XDP_PASS  # not counted
    packets, hashed, last, drops = totals(coll)
    assert packets == 3
    assert hashed == 16 + 5 + 0  # hash_bytes = 16 by default
    assert last == fnv1a(b"") == FNV_BASIS
    prog.run(udp_packet("2001:db8::1", "2001:db8::2", payload=payloads[0]))
    assert totals(coll)[2] == fnv1a(payloads[0][:16])
    assert drops == 0


def test_blocked_hash_set_from_user_space_drops(load) -> None:
    coll = load("payload_hash")
    prog = coll.programs["hash_payload"]
    attack = b"attack payload!!"
    data = coll.maps[".data"]
    fnv_basis_raw, _ = struct.unpack("<II", data[0][:8])
    assert fnv_basis_raw == FNV_BASIS
    data[0] = struct.pack("<II", FNV_BASIS, fnv1a(attack)) + data[0][8:]
    assert prog.run(udp_packet(payload=attack)).retval == XDP_DROP
    assert prog.run(udp_packet(payload=b"benign payload..")).retval == XDP_PASS
    assert prog.run(udp_packet(payload=attack + b" with a tail")).retval == XDP_DROP  # 16 bytes
    assert totals(coll) == (3, 48, fnv1a(attack), 2)


def test_rodata_hash_length_set_before_load(load) -> None:
    def hash_four(spec):
        rodata = spec.maps[".rodata"]
        (key, value), = rodata.contents
        maps = dict(spec.maps)
        maps[".rodata"] = dataclasses.replace(
            rodata, contents=((key, struct.pack("<I", 4) + value[4:]),))
        return dataclasses.replace(spec, maps=maps)

    coll = load("payload_hash", hash_four)
    coll.programs["hash_payload"].run(udp_packet(payload=b"abcdefgh"))
    assert totals(coll)[1:3] == (4, fnv1a(b"abcd"))


def test_loop_is_bounded_by_its_maximum(load) -> None:
    """hash_bytes above MAX_HASH_BYTES (64) is capped by the loop bound."""

    def hash_many(spec):
        rodata = spec.maps[".rodata"]
        (key, value), = rodata.contents
        maps = dict(spec.maps)
        maps[".rodata"] = dataclasses.replace(
            rodata, contents=((key, struct.pack("<I", 1000) + value[4:]),))
        return dataclasses.replace(spec, maps=maps)

    coll = load("payload_hash", hash_many)
    payload = bytes(range(200))
    coll.programs["hash_payload"].run(udp_packet(payload=payload))
    assert totals(coll)[1:3] == (64, fnv1a(payload[:64]))


def test_later_ipv4_fragment_is_not_hashed(load) -> None:
    """A later fragment has no UDP header: the payload offset is -1 and nothing is counted."""
    from pybpf.hooks.packets import ethernet, ipv4

    body = bytes(range(48))  # the middle of some UDP datagram
    frag = ethernet(ipv4(body, 17, "10.0.0.1", "10.0.0.2", dont_fragment=False,
                         more_fragments=True, frag_offset=185), 0x0800)
    coll = load("payload_hash")
    assert coll.programs["hash_payload"].run(frag).retval == XDP_PASS
    assert totals(coll) == (0, 0, 0, 0)
