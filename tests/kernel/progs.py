"""Hand-assembled programs and specs shared by the kernel tests (no assembler or compiler needed)."""

from __future__ import annotations

from pybpf.abi import MapType, ProgramType
from pybpf.isa.instruction import Instruction as I
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

EXIT = I(0x95)


def mov(dst: int, imm: int) -> I:
    return I(0xB7, dst, 0, 0, imm)


def movr(dst: int, src: int) -> I:
    return I(0xBF, dst, src)


def lddw(dst: int, imm: int = 0) -> I:
    return I(0x18, dst, 0, 0, imm)


def call(helper: int) -> I:
    return I(0x85, 0, 0, 0, helper)


def ret(value: int) -> list[I]:
    return [mov(0, value), EXIT]


def counter_program(name: str = "count", ptype: ProgramType = ProgramType.XDP, retval: int = 2,
                    map_name: str = "counts") -> ProgramSpec:
    """counts[0] += 1 (atomically) and return `retval`."""
    insns = [
        I(0x62, 10, 0, -4, 0),  # *(u32 *)(r10 - 4) = 0
        movr(2, 10), I(0x07, 2, 0, 0, -4),  # r2 = r10 - 4
        lddw(1),  # r1 = map (patched), slot 3
        call(1),  # bpf_map_lookup_elem
        I(0x15, 0, 0, 2, 0),  # if r0 == 0 goto +2
        mov(1, 1),
        I(0xDB, 0, 1, 0, 0),  # lock *(u64 *)(r0 + 0) += r1
        mov(0, retval), EXIT,
    ]
    return ProgramSpec(name=name, instructions=tuple(insns), type=ptype,
                       map_references=(MapReference(pc=3, map_name=map_name),))


def counter_map(name: str = "counts", entries: int = 1, mtype: MapType = MapType.ARRAY) -> MapSpec:
    return MapSpec(name=name, type=mtype, key_size=4, value_size=8, max_entries=entries)


def counter_collection(ptype: ProgramType = ProgramType.XDP, retval: int = 2) -> CollectionSpec:
    return CollectionSpec(programs={"count": counter_program(ptype=ptype, retval=retval)},
                          maps={"counts": counter_map()})


def packet(size: int = 64, fill: int = 0xAB) -> bytes:
    """An Ethernet frame of `size` bytes (IPv4 ethertype) for test runs."""
    return b"\xff" * 6 + b"\x02" * 6 + b"\x08\x00" + bytes([fill]) * (size - 14)


def pid_counter_program(name: str, ptype: ProgramType, pid: int, map_name: str = "counts",
                        attach_type: object = None) -> ProgramSpec:
    """counts[0] += 1 when the current process is `pid`; returns 0."""
    body = list(counter_program(name, ptype, 0, map_name).instructions)
    insns = [
        call(14),  # bpf_get_current_pid_tgid
        I(0x77, 0, 0, 0, 32),  # r0 >>= 32 (tgid)
        I(0x55, 0, 0, sum(i.slots for i in body[:-2]), pid),  # if r0 != pid goto the final r0 = 0
    ]
    # the body ends with "r0 = 0; exit": jumping over all but those two lands on them.
    insns += body
    return ProgramSpec(name=name, instructions=tuple(insns), type=ptype,
                       attach_type=attach_type,  # type: ignore[arg-type]
                       map_references=(MapReference(pc=3 + 3, map_name=map_name),))


def udp_port_filter(port: int, map_name: str = "counts") -> ProgramSpec:
    """XDP: drop IPv4/UDP to `port` counting counts[1], pass everything else counting counts[0]."""
    be_port = int.from_bytes(port.to_bytes(2, "big"), "little")
    insns = [
        movr(6, 1),
        I(0x61, 2, 6, 0, 0), I(0x61, 3, 6, 4, 0),  # r2 = data, r3 = data_end
        movr(4, 2), I(0x07, 4, 0, 0, 38),
        I(0x2D, 4, 3, 9, 0),  # 5: if r4 > r3 goto PASS
        I(0x69, 5, 2, 12, 0), I(0x55, 5, 0, 7, 0x0008),  # ethertype != IPv4
        I(0x71, 5, 2, 23, 0), I(0x55, 5, 0, 5, 17),  # protocol != UDP
        I(0x69, 5, 2, 36, 0), I(0x55, 5, 0, 3, be_port),  # dport != port
        mov(7, 1), mov(8, 1), I(0x05, 0, 0, 2, 0),  # drop: key 1, XDP_DROP; goto COUNT
        mov(7, 0), mov(8, 2),  # PASS: key 0, XDP_PASS
        I(0x63, 10, 7, -4, 0),  # COUNT: *(u32 *)(r10 - 4) = r7
        movr(2, 10), I(0x07, 2, 0, 0, -4),
        lddw(1), call(1),  # slot 20
        I(0x15, 0, 0, 2, 0), mov(1, 1), I(0xDB, 0, 1, 0, 0),
        movr(0, 8), EXIT,
    ]
    return ProgramSpec(name="udp_filter", instructions=tuple(insns), type=ProgramType.XDP,
                       map_references=(MapReference(pc=20, map_name=map_name),))


def ringbuf_producer(ring: str = "events", counter: str = "counts", ptype: ProgramType = ProgramType.XDP,
                     helper: int = 130) -> ProgramSpec:
    """Each run emits one 8-byte record holding a sequence number (counts[0]++, fetched atomically).

    helper 130 is bpf_ringbuf_output(map, data, size, flags); helper 25 bpf_perf_event_output(ctx, map,
    BPF_F_CURRENT_CPU, data, size) is used for perf buffers.
    """
    head = [
        movr(6, 1),  # keep ctx
        I(0x62, 10, 0, -4, 0), movr(2, 10), I(0x07, 2, 0, 0, -4),
        lddw(1), call(1),  # slot 4
    ]
    if helper == 130:
        tail = [movr(2, 10), I(0x07, 2, 0, 0, -16), lddw(1), mov(3, 8), mov(4, 0), call(130)]
        ring_pc = 13
    else:
        tail = [movr(1, 6), lddw(2), lddw(3, 0xFFFFFFFF), movr(4, 10), I(0x07, 4, 0, 0, -16), mov(5, 8), call(25)]
        ring_pc = 12
    body = [mov(1, 1), I(0xDB, 0, 1, 0, 0x01), I(0x7B, 10, 1, -16, 0)] + tail
    skip = sum(i.slots for i in body)
    insns = head + [I(0x15, 0, 0, skip, 0)] + body + [mov(0, 2), EXIT]
    return ProgramSpec(name="produce", instructions=tuple(insns), type=ptype,
                       map_references=(MapReference(pc=4, map_name=counter), MapReference(pc=ring_pc, map_name=ring)))
