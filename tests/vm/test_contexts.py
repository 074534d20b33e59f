"""Program contexts and packet helpers: hand-computed results on the interpreter, and the same
programs through BPF_PROG_TEST_RUN in the Linux kernel (the oracle) where bpf() is permitted."""

from __future__ import annotations

import struct

import pytest

from pybpf.abi import ProgramType
from pybpf.collection import RunResult
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.object.spec import ProgramSpec
from pybpf.vm.skb_context import SK_BUFF_FIELDS

XDP = ProgramType.XDP
TC = ProgramType.SCHED_CLS
SOCKET = ProgramType.SOCKET_FILTER
EINVAL, EACCES, EFAULT = -22, -13, -14


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_packet(payload: bytes = b"hello, world") -> bytes:
    """Ethernet + IPv4 + TCP with correct checksums (10.0.0.1:1234 -> 10.0.0.2:80)."""
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    tcp = struct.pack("!HHIIBBHHH", 1234, 80, 1, 0, 5 << 4, 0x18, 1024, 0, 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 7, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    eth = bytes.fromhex("020000000002" "020000000001" "0800")
    return eth + ip + tcp


def run_on(engine: str, text: str, ptype: ProgramType, data: bytes, ctx: bytes | None = None
           ) -> RunResult:
    spec = ProgramSpec("prog", tuple(assemble(text, syntax="llvm")), type=ptype, license="GPL")
    with Runtime(engine, verify=False).load(spec) as collection:
        return collection.programs["prog"].run(data, ctx=ctx)


def s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


# --- programs (all accepted by the kernel verifier) -----------------------------------------


def xdp_adjust(helper: int, delta: int) -> str:
    """Call an xdp_adjust_* helper, then store its result in the first 4 packet bytes."""
    return f"""
        r6 = r1
        r2 = {delta}
        call {helper}
        r7 = r0
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r2
        r4 += 4
        if r4 > r3 goto out
        *(u32 *)(r2 + 0) = r7
    out:
        r0 = 2
        exit
    """


XDP_FIELDS = """
    r0 = *(u32 *)(r1 + 12)
    r2 = *(u32 *)(r1 + 16)
    r2 <<= 16
    r0 |= r2
    exit
"""


def ctx_field(offset: int, size: int = 4) -> str:
    width = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}[size]
    return f"r0 = *({width} *)(r1 + {offset})\nexit\n"


TC_WRITE_FIELDS = """
    r2 = 7
    *(u32 *)(r1 + 8) = r2
    r2 = 3
    *(u32 *)(r1 + 32) = r2
    r2 = 0x55
    *(u32 *)(r1 + 48) = r2
    *(u32 *)(r1 + 64) = r2
    r0 = 0
    exit
"""

# Rewrite the IPv4 source address 10.0.0.1 -> 10.0.0.9 and fix both checksums.
TC_NAT = """
    r6 = r1
    r2 = 26
    r3 = r10
    r3 += -4
    r4 = 4
    call 26
    r7 = *(u32 *)(r10 - 4)
    r8 = 0x0900000a
    r1 = r6
    r2 = 24
    r3 = r7
    r4 = r8
    r5 = 4
    call 10
    r1 = r6
    r2 = 50
    r3 = r7
    r4 = r8
    r5 = 0x14
    call 11
    *(u32 *)(r10 - 4) = r8
    r1 = r6
    r2 = 26
    r3 = r10
    r3 += -4
    r4 = 4
    r5 = 0
    call 9
    r0 = 0
    exit
"""


def skb_load(offset: int, length: int, result: bool = False) -> str:
    """skb_load_bytes into the stack; r0 = the helper's result or the first 4 loaded bytes."""
    tail = "" if result else "r0 = *(u32 *)(r10 - 8)"
    return f"""
        r2 = {offset}
        r3 = r10
        r3 += -8
        r4 = {length}
        *(u64 *)(r10 - 8) = r4
        call 26
        {tail}
        exit
    """


def redirect(ifindex: int, flags: int) -> str:
    return f"r1 = {ifindex}\nr2 = {flags}\ncall 23\nexit\n"


# --- interpreter results computed by hand ------------------------------------------------


def test_xdp_defaults_loopback_ifindex() -> None:
    assert run_on("interp", XDP_FIELDS, XDP, bytes(64)).retval == 1  # ingress lo, queue 0


def test_xdp_ctx_in_sets_ifindex_and_queue() -> None:
    ctx = struct.pack("<6I", 0, 64, 0, 1, 0, 0)
    assert run_on("interp", XDP_FIELDS, XDP, bytes(64), ctx).retval == 1


@pytest.mark.parametrize(
    ("helper", "delta", "expected_ret", "expected_len"),
    [
        (44, -4, 0, 68),
        (44, -216, 0, 280),  # 256 bytes of headroom minus the reserved xdp_frame
        (44, -217, EINVAL, 64),
        (44, 50, 0, 14),  # may shrink down to an Ethernet header
        (44, 51, EINVAL, 64),
        (65, 10, 0, 74),
        (65, -50, 0, 14),
        (65, -51, EINVAL, 64),
        (65, 3520 - 64, 0, 3520),  # frame 4096 - headroom 256 - tailroom 320
        (65, 3521 - 64, EINVAL, 64),
        (54, -4, 0, 68),
        (54, -32, 0, 96),  # data_out starts at the metadata
        (54, -216, 0, 280),  # the metadata may fill the headroom left after the xdp_frame
        (54, -220, EINVAL, 64),
        (54, -2, EACCES, 64),
        (54, 4, EINVAL, 64),
    ],
)
def test_xdp_adjust_interp(helper: int, delta: int, expected_ret: int, expected_len: int) -> None:
    result = run_on("interp", xdp_adjust(helper, delta), XDP, bytes(range(64)))
    assert result.retval == 2
    assert result.data_out is not None and len(result.data_out) == expected_len
    meta = (-delta if expected_ret == 0 else 0) if helper == 54 else 0
    assert s32(int.from_bytes(result.data_out[meta : meta + 4], "little")) == expected_ret


def test_xdp_adjust_tail_zeroes_new_bytes() -> None:
    result = run_on("interp", xdp_adjust(65, 8), XDP, b"\xff" * 20)
    assert result.data_out == bytes(4) + b"\xff" * 16 + bytes(8)


@pytest.mark.parametrize(
    ("ptype", "flags", "expected"),
    [(XDP, 0, 4), (XDP, 1, 0), (TC, 0, 7), (TC, 1, 7), (TC, 2, 2)],
)
def test_redirect(ptype: ProgramType, flags: int, expected: int) -> None:
    data = tcp_packet()
    assert run_on("interp", redirect(1, flags), ptype, data).retval == expected


def test_skb_fields_tc() -> None:
    pkt = tcp_packet()
    assert run_on("interp", ctx_field(0), TC, pkt).retval == len(pkt)  # len from Ethernet
    assert run_on("interp", ctx_field(16), TC, pkt).retval == 0x0008  # htons(ETH_P_IP)
    assert run_on("interp", ctx_field(40), TC, pkt).retval == 1  # ifindex: loopback
    assert run_on("interp", ctx_field(4), TC, pkt).retval == 3  # PACKET_OTHERHOST


def test_socket_filter_sees_l3() -> None:
    pkt = tcp_packet()
    assert run_on("interp", ctx_field(0), SOCKET, pkt).retval == len(pkt) - 14


def test_tc_writes_fields_to_ctx_out() -> None:
    result = run_on("interp", TC_WRITE_FIELDS, TC, tcp_packet())
    assert result.ctx_out is not None
    mark, priority = (struct.unpack_from("<I", result.ctx_out, o)[0] for o in (8, 32))
    assert struct.unpack_from("<I", result.ctx_out, 160)[0] == len(tcp_packet())  # wire_len
    cb = struct.unpack_from("<5I", result.ctx_out, 48)
    assert (mark, priority, cb) == (7, 3, (0x55, 0, 0, 0, 0x55))


def test_tc_nat_keeps_checksums_valid() -> None:
    pkt = tcp_packet()
    out = run_on("interp", TC_NAT, TC, pkt).data_out
    assert out is not None and out[26:30] == bytes([10, 0, 0, 9])
    assert _csum(out[14:34]) == 0  # IPv4 header checksum verifies
    pseudo = out[26:34] + struct.pack("!BBH", 0, 6, len(out) - 34)
    assert _csum(pseudo + out[34:]) == 0  # TCP checksum verifies


def test_skb_load_bytes() -> None:
    pkt = tcp_packet()
    ok = run_on("interp", skb_load(12, 4), TC, pkt).retval
    assert ok == int.from_bytes(pkt[12:16], "little")
    assert s32(run_on("interp", skb_load(len(pkt) - 2, 4, True), TC, pkt).retval) == EFAULT
    assert run_on("interp", skb_load(len(pkt) - 2, 4), TC, pkt).retval == 0  # zeroed


def test_writing_a_read_only_skb_field_faults() -> None:
    from pybpf.errors import RuntimeFault

    with pytest.raises(RuntimeFault, match="__sk_buff"):
        run_on("interp", "r2 = 1\n*(u32 *)(r1 + 0) = r2\nr0 = 0\nexit", TC, tcp_packet())


def test_sk_buff_layout_matches_uapi() -> None:
    assert SK_BUFF_FIELDS["cb"] == (48, 20)
    assert SK_BUFF_FIELDS["data"] == (76, 4) and SK_BUFF_FIELDS["data_end"] == (80, 4)
    assert SK_BUFF_FIELDS["data_meta"] == (140, 4) and SK_BUFF_FIELDS["hwtstamp"] == (184, 8)


# --- the same programs in the kernel ---------------------------------------------------------

KERNEL_CASES = [
    ("xdp fields", XDP_FIELDS, XDP, bytes(64), None),
    *[
        (f"xdp helper {h} delta {d}", xdp_adjust(h, d), XDP, bytes(range(64)), None)
        for h, d in [(44, -4), (44, -216), (44, -217), (44, 50), (44, 51), (65, 10), (65, -50),
                     (65, -51), (65, 3456), (65, 3457), (54, -4), (54, -32), (54, -216), (54, -220),
                     (54, -2), (54, 4)]
    ],
    *[
        (f"tc field {name}", ctx_field(o, 4), TC, tcp_packet(), None)
        for name, (o, n) in SK_BUFF_FIELDS.items()
        if n == 4 and name not in ("data", "data_end", "data_meta", "family", "remote_ip4",
                                   "local_ip4", "remote_port", "local_port", "napi_id")
    ],
    *[
        (f"socket field {name}", ctx_field(SK_BUFF_FIELDS[name][0]), SOCKET, tcp_packet(), None)
        for name in ("len", "pkt_type", "protocol", "ifindex", "mark", "priority", "hash")
    ],
    ("tc nat checksums", TC_NAT, TC, tcp_packet(), None),
    *[
        (f"redirect {t.name} flags {f}", redirect(1, f), t, tcp_packet(), None)
        for t, f in [(XDP, 0), (XDP, 1), (TC, 0), (TC, 1), (TC, 2)]
    ],
    ("tc skb_load_bytes ok", skb_load(12, 4), TC, tcp_packet(), None),
    ("tc skb_load_bytes beyond", skb_load(60, 8, True), TC, tcp_packet(b""), None),
    ("tc skb_load_bytes beyond zeroes", skb_load(60, 8), TC, tcp_packet(b""), None),
    ("tc writes", TC_WRITE_FIELDS, TC, tcp_packet(), bytes(192)),
    ("tc ctx_in", ctx_field(8), TC, tcp_packet(), struct.pack("<3I", 0, 0, 99).ljust(192, b"\0")),
]


@pytest.mark.kernel
@pytest.mark.parametrize(("name", "text", "ptype", "data", "ctx"), KERNEL_CASES,
                         ids=[c[0] for c in KERNEL_CASES])
def test_same_as_kernel(name: str, text: str, ptype: ProgramType, data: bytes,
                        ctx: bytes | None) -> None:
    ours = run_on("interp", text, ptype, data, ctx)
    theirs = run_on("kernel", text, ptype, data, ctx)
    assert ours.retval == theirs.retval
    assert ours.data_out == theirs.data_out
    if ctx is not None:
        assert ours.ctx_out == theirs.ctx_out


# --- legacy packet loads (ld_abs / ld_ind need r6 = ctx) ------------------------------------

LD_PROGRAMS = {
    "abs_b0": ([(0xBF, 6, 1, 0), (0x30, 0, 0, 0)], {SOCKET: 0x45, TC: 0x02}),
    "abs_w12": ([(0xBF, 6, 1, 0), (0x20, 0, 0, 12)], {SOCKET: 0x0A000001, TC: 0x08004500}),
    "abs_beyond": ([(0xBF, 6, 1, 0), (0x20, 0, 0, 1000), (0xB7, 0, 0, 5)], {SOCKET: 0, TC: 0}),
    "ind_h": ([(0xBF, 6, 1, 0), (0xB7, 7, 0, 4), (0x48, 0, 7, 2)], {SOCKET: 0, TC: 0x0200}),
    "ind_negative": ([(0xBF, 6, 1, 0), (0xB7, 7, 0, -4), (0x48, 0, 7, 2), (0xB7, 0, 0, 9)],
                     {SOCKET: 0, TC: 0}),
}


def _ld_run(engine: str, name: str, ptype: ProgramType) -> int:
    from pybpf.isa import Instruction

    body, _ = LD_PROGRAMS[name]
    insns = (*(Instruction(op, dst, src, 0, imm) for op, dst, src, imm in body),
             Instruction(0x95))
    spec = ProgramSpec("prog", insns, type=ptype, license="GPL")
    with Runtime(engine, verify=False).load(spec) as collection:
        return collection.programs["prog"].run(tcp_packet()).retval


@pytest.mark.parametrize("ptype", [SOCKET, TC], ids=["socket", "tc"])
@pytest.mark.parametrize("name", sorted(LD_PROGRAMS))
def test_legacy_packet_loads(name: str, ptype: ProgramType) -> None:
    assert _ld_run("interp", name, ptype) == LD_PROGRAMS[name][1][ptype]


@pytest.mark.kernel
@pytest.mark.parametrize("ptype", [SOCKET, TC], ids=["socket", "tc"])
@pytest.mark.parametrize("name", sorted(LD_PROGRAMS))
def test_legacy_packet_loads_same_as_kernel(name: str, ptype: ProgramType) -> None:
    assert _ld_run("interp", name, ptype) == _ld_run("kernel", name, ptype)


SHORT_FRAMES = {
    "eth only": bytes(12) + b"\x08\x00",
    "ipv4 short": bytes(12) + b"\x08\x00" + bytes(19),
    "ipv6 short": bytes(12) + b"\x86\xdd" + bytes(39),
}


@pytest.mark.parametrize("name", sorted(SHORT_FRAMES))
def test_skb_refuses_truncated_ip_frames(name: str) -> None:
    from pybpf.errors import BpfError

    with pytest.raises(BpfError, match="header"):
        run_on("interp", ctx_field(0), TC, SHORT_FRAMES[name])


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(SHORT_FRAMES))
def test_kernel_refuses_the_same_truncated_frames(name: str) -> None:
    from pybpf.errors import BpfError

    with pytest.raises(BpfError):
        run_on("kernel", ctx_field(0), TC, SHORT_FRAMES[name])


def test_skb_accepts_other_short_frames() -> None:
    arp = bytes(12) + b"\x08\x06" + bytes(4)
    assert run_on("interp", ctx_field(0), TC, arp).retval == 18


# adjust_meta(-8), write the metadata, then adjust_head(DELTA): the metadata moves with data
META_THEN_HEAD = """
    r6 = r1
    r2 = -8
    call 54
    r2 = *(u32 *)(r6 + 8)
    r3 = *(u32 *)(r6 + 0)
    r4 = r2
    r4 += 8
    if r4 > r3 goto out
    r5 = 0x1122334455667788 ll
    *(u64 *)(r2 + 0) = r5
    r1 = r6
    r2 = DELTA
    call 44
    r7 = r0
    r2 = *(u32 *)(r6 + 0)
    r3 = *(u32 *)(r6 + 4)
    r4 = r2
    r4 += 4
    if r4 > r3 goto out
    *(u32 *)(r2 + 0) = r7
out:
    r0 = 2
    exit
"""


@pytest.mark.parametrize(("delta", "ret", "length"),
                         [(-4, 0, 76), (4, 0, 68), (-208, 0, 280), (-209, EINVAL, 72)])
def test_adjust_head_moves_metadata(delta: int, ret: int, length: int) -> None:
    out = run_on("interp", META_THEN_HEAD.replace("DELTA", str(delta)), XDP, bytes(range(64))).data_out
    assert out is not None and len(out) == length
    assert out[:8] == bytes.fromhex("8877665544332211")
    assert s32(int.from_bytes(out[8:12], "little")) == ret


@pytest.mark.kernel
@pytest.mark.parametrize("delta", [-4, 4, -208, -209, 20, 51])
def test_adjust_head_with_metadata_same_as_kernel(delta: int) -> None:
    text = META_THEN_HEAD.replace("DELTA", str(delta))
    assert run_on("interp", text, XDP, bytes(range(64))) .data_out == \
        run_on("kernel", text, XDP, bytes(range(64))).data_out


XDP_CTX_IN = {
    "meta 8": ((8, 30, 0, 1, 0, 0), True),
    "meta 4": ((4, 30, 0, 1, 0, 0), True),
    "meta unaligned": ((6, 30, 0, 1, 0, 0), False),
    "no device": ((0, 30, 0, 0, 0, 0), True),
    "queue without device": ((0, 30, 0, 0, 1, 0), False),
    "queue beyond lo's": ((0, 30, 0, 1, 1, 0), False),
    "data_end beyond the packet": ((0, 31, 0, 1, 0, 0), False),
    "short linear part": ((0, 20, 0, 1, 0, 0), True),
    "empty linear part": ((0, 0, 0, 1, 0, 0), True),
    "egress set": ((0, 30, 0, 1, 0, 2), False),
}


def _xdp_ctx_in(engine: str, fields: tuple[int, ...]) -> tuple[int, bytes | None, bytes | None]:
    ctx = struct.pack("<6I", *fields)
    result = run_on(engine, XDP_FIELDS, XDP, bytes(range(30)), ctx)
    return result.retval, result.data_out, result.ctx_out


@pytest.mark.parametrize("name", sorted(XDP_CTX_IN))
def test_xdp_ctx_in_rules(name: str) -> None:
    from pybpf.errors import BpfError

    fields, accepted = XDP_CTX_IN[name]
    if accepted:
        retval, data_out, ctx_out = _xdp_ctx_in("interp", fields)
        assert retval == 1 and data_out == bytes(range(30))  # ingress_ifindex reads 1 (lo)
        assert ctx_out == struct.pack("<6I", *fields)  # given back with data/data_end as given
    else:
        with pytest.raises(BpfError, match="ctx_in"):
            _xdp_ctx_in("interp", fields)


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(XDP_CTX_IN))
def test_xdp_ctx_in_rules_same_as_kernel(name: str) -> None:
    from pybpf.errors import BpfError

    fields, accepted = XDP_CTX_IN[name]
    if accepted:
        assert _xdp_ctx_in("interp", fields) == _xdp_ctx_in("kernel", fields)
    else:
        with pytest.raises(BpfError):
            _xdp_ctx_in("kernel", fields)


# Multi-buffer XDP: beyond 3520 linear bytes (or ctx_in's data_end) the packet is in fragments.
FRAG_CASES = [
    *[(n, None, h, d) for n in (100, 3521, 9000)
      for h, d in [(65, 10), (65, -10), (65, -1500), (65, 4000), (44, -16)]],
    *[(64, f, h, d) for f in [(0, 20, 0, 1, 0, 0), (8, 30, 0, 1, 0, 0), (16, 40, 0, 1, 0, 0)]
      for h, d in [(65, 5), (65, -17), (65, 4086), (44, -200), (44, -209), (54, -8)]],
]


def _frag_run(engine: str, n: int, fields: tuple | None, helper: int, delta: int) -> tuple:
    ctx = struct.pack("<6I", *fields) if fields else None
    result = run_on(engine, xdp_adjust(helper, delta), XDP, bytes(i % 251 for i in range(n)), ctx)
    return result.retval, result.data_out, result.ctx_out if ctx else None


def test_large_packet_is_linear_then_fragments() -> None:
    pkt = bytes(i % 251 for i in range(5000))
    _, out, _ = _frag_run("interp", 5000, None, 65, 100)  # the last fragment grows, zeroed
    assert out == bytes(4) + pkt[4:] + bytes(100)
    _, out, _ = _frag_run("interp", 5000, None, 65, -1500)  # fragments go first, then linear
    assert len(out) == 3500 and out[4:] == pkt[4:3500]
    _, out, ctx = _frag_run("interp", 64, (0, 20, 0, 1, 0, 0), 65, -50)  # 44 bytes of fragments
    assert len(out) == 14 and ctx is not None and struct.unpack_from("<I", ctx, 4)[0] == 14


@pytest.mark.kernel
@pytest.mark.parametrize("case", FRAG_CASES, ids=[f"{c[0]}-{c[1] and c[1][:2]}-{c[2]}-{c[3]}"
                                                  for c in FRAG_CASES])
def test_fragments_same_as_kernel(case: tuple) -> None:
    assert _frag_run("interp", *case) == _frag_run("kernel", *case)


@pytest.mark.parametrize(("size", "accepted"), [(3712, True), (3713, False)])
def test_skb_test_packet_size_limit(size: int, accepted: bool) -> None:
    from pybpf.errors import BpfError

    pkt = tcp_packet(bytes(size - 54))
    if accepted:
        assert run_on("interp", ctx_field(0), TC, pkt).retval == size
    else:
        with pytest.raises(BpfError, match="at most 3712"):
            run_on("interp", ctx_field(0), TC, pkt)


@pytest.mark.kernel
def test_skb_test_packet_size_limit_is_the_kernels() -> None:
    from pybpf.errors import BpfError

    assert run_on("kernel", ctx_field(0), TC, tcp_packet(bytes(3712 - 54))).retval == 3712
    with pytest.raises(BpfError):
        run_on("kernel", ctx_field(0), TC, tcp_packet(bytes(3713 - 54)))
