"""`struct __sk_buff` for user-space runs of tc, socket filter, cgroup skb and lwt programs.

The skb context converts `data`/`data_end`/`data_meta` reads into packet pointers, refuses writes to
fields the program type may not write, and accepts in `ctx_in` only the fields BPF_PROG_TEST_RUN
accepts; the common context machinery is in pybpf.vm.contexts.
"""

from __future__ import annotations

import ctypes
import functools
import struct
from typing import Any

from pybpf.abi import ProgramType
from pybpf.errors import BpfError
from pybpf.vm.contexts import (
    ETH_HLEN,
    LOOPBACK_IFINDEX,
    Context,
    field_fault,
)
from pybpf.vm.memory import PACK, UNPACK, Region
from pybpf.vm.run_env import RunEnv

# struct __sk_buff (include/uapi/linux/bpf.h): name -> (offset, size)
SK_BUFF_FIELDS: dict[str, tuple[int, int]] = {
    "len": (0, 4), "pkt_type": (4, 4), "mark": (8, 4), "queue_mapping": (12, 4),
    "protocol": (16, 4), "vlan_present": (20, 4), "vlan_tci": (24, 4), "vlan_proto": (28, 4),
    "priority": (32, 4), "ingress_ifindex": (36, 4), "ifindex": (40, 4), "tc_index": (44, 4),
    "cb": (48, 20), "hash": (68, 4), "tc_classid": (72, 4), "data": (76, 4), "data_end": (80, 4),
    "napi_id": (84, 4), "family": (88, 4), "remote_ip4": (92, 4), "local_ip4": (96, 4),
    "remote_ip6": (100, 16), "local_ip6": (116, 16), "remote_port": (132, 4),
    "local_port": (136, 4), "data_meta": (140, 4), "flow_keys": (144, 8), "tstamp": (152, 8),
    "wire_len": (160, 4), "gso_segs": (164, 4), "sk": (168, 8), "gso_size": (176, 4),
    "tstamp_type": (180, 1), "hwtstamp": (184, 8),
}  # fmt: skip
SK_BUFF_SIZE = 192
# BPF_PROG_TEST_RUN builds the skb in one page: 4096 - NET_SKB_PAD (64) - skb_shared_info (320)
SKB_MAX_TEST_SIZE = 3712
_POINTER_FIELDS = {76: "data", 80: "data_end", 140: "data_meta"}
_NULL_POINTER_FIELDS = {144: "flow_keys", 168: "sk"}
# Fields a program may write, by program type (the kernel's *_is_valid_access rules).
_TC_WRITABLE = ("mark", "tc_index", "priority", "cb", "tc_classid", "queue_mapping", "tstamp")
_WRITABLE: dict[int, tuple[str, ...]] = {
    ProgramType.SCHED_CLS: _TC_WRITABLE,
    ProgramType.SCHED_ACT: _TC_WRITABLE,
    ProgramType.CGROUP_SKB: ("mark", "priority", "cb", "tstamp"),
    ProgramType.SOCKET_FILTER: ("cb",),
}
# ctx_in fields BPF_PROG_TEST_RUN accepts for an skb (everything else must be zero).
_CTX_IN_FIELDS = (
    "mark", "priority", "ingress_ifindex", "ifindex", "cb", "tstamp", "wire_len", "gso_segs",
    "gso_size", "hwtstamp",
)  # fmt: skip
L2_PROGRAM_TYPES = frozenset(
    {ProgramType.SCHED_CLS, ProgramType.SCHED_ACT, ProgramType.LWT_XMIT}
)


_L3_MIN = {b"\x08\x00": 20, b"\x86\xdd": 40}  # ethertype -> the header BPF_PROG_TEST_RUN requires
_U32 = struct.Struct("<I")
_ETH_ZEROS = bytes(ETH_HLEN)
_LEN, _PKT_TYPE, _PROTOCOL, _IFINDEX, _WIRE_LEN = (
    SK_BUFF_FIELDS[n][0] for n in ("len", "pkt_type", "protocol", "ifindex", "wire_len"))
_CTX_IN_MASK = sum(((1 << 8 * size) - 1) << 8 * offset for offset, size in (SK_BUFF_FIELDS[n] for n in _CTX_IN_FIELDS))
_WIRE_LEN_BIT = 8 * _WIRE_LEN
_FITS_ANY = ETH_HLEN + max(_L3_MIN.values())  # from here on skb_refusal finds nothing to refuse
_HEADROOM = 64  # SkbContext.headroom
# SkbFrames.load: blank fields as fill_fields leaves them (ifindex: loopback), then len, pkt_type, protocol
_BLANK_LOOPBACK = bytes(_IFINDEX) + _U32.pack(LOOPBACK_IFINDEX) + bytes(SK_BUFF_SIZE - _IFINDEX - 4)
_FIRST_FIELDS = struct.Struct("<II8xI")
_DEST_PKT_TYPES = {bytes(6): 0, b"\xff" * 6: 1}  # _pkt_type of the usual destinations
assert (_LEN, _PKT_TYPE, _PROTOCOL) == (0, 4, 16) and _FIRST_FIELDS.size == 20


@functools.cache
def writable_ranges(program_type: int) -> tuple[tuple[int, int], ...]:
    """The byte ranges of __sk_buff a program of `program_type` may write."""
    names = _WRITABLE.get(program_type, ("cb",))
    return tuple((SK_BUFF_FIELDS[n][0], SK_BUFF_FIELDS[n][0] + SK_BUFF_FIELDS[n][1]) for n in names)


class SkbContext(Context):
    """`struct __sk_buff` for tc, socket filter and cgroup skb programs."""

    ctx_size = SK_BUFF_SIZE
    headroom = _HEADROOM  # room for the packet the way NET_SKB_PAD leaves it (not program-visible)

    def __init__(
        self, env: RunEnv, data: bytes = b"", ctx_in: bytes | None = None,
        program_type: int = ProgramType.SCHED_CLS,
    ) -> None:
        self.env = env
        data = bytes(data)
        refused = skb_refusal(data)
        if refused:
            raise BpfError(refused)
        self.program_type = program_type
        self.l2 = program_type in L2_PROGRAM_TYPES
        self.frame = (ctypes.c_ubyte * (self.headroom + len(data)))()
        start = ctypes.addressof(self.frame) + self.headroom
        ctypes.memmove(start, data, len(data))
        self.data = start if self.l2 else start + ETH_HLEN
        self.data_end = start + len(data)
        fields = bytearray(SK_BUFF_SIZE)
        if ctx_in:
            given = bytes(ctx_in)[:SK_BUFF_SIZE].ljust(SK_BUFF_SIZE, b"\0")
            allowed = [SK_BUFF_FIELDS[n] for n in _CTX_IN_FIELDS]
            for i, byte in enumerate(given):
                if byte and not any(o <= i < o + n for o, n in allowed):
                    name = next(k for k, (o, n) in SK_BUFF_FIELDS.items() if o <= i < o + n) \
                        if any(o <= i < o + n for o, n in SK_BUFF_FIELDS.values()) else "padding"
                    raise BpfError(f"ctx_in: __sk_buff.{name} cannot be set for a test run")
            fields[:] = given
        fill_fields(fields, data, self.data_end - self.data)
        self._adopt(env, Region.allocate(SK_BUFF_SIZE, name="__sk_buff", init=bytes(fields)))

    @classmethod
    def adopt_frame(cls, env: RunEnv, frame: Any, ctx_region: Region, program_type: int, data: int,
              data_end: int) -> SkbContext:
        """The context of a run already under way in a reused frame (pybpf.vm.jit.skbrun): the
        packet is in `frame` at [data, data_end), `ctx_region` holds the __sk_buff fields.
        Registers the regions in `env` as __init__ does."""
        self = cls.__new__(cls)
        self.program_type = program_type
        self.l2 = program_type in L2_PROGRAM_TYPES
        self.frame = frame
        self.data, self.data_end = data, data_end
        self._adopt(env, ctx_region)
        return self

    def _adopt(self, env: RunEnv, ctx_region: Region) -> None:
        self.env = env
        self.ctx_region = env.add_run_region(ctx_region)
        ctx_region.ctx = self
        self.packet_region = env.add_run_region(self._packet_region())
        self._writable = writable_ranges(self.program_type)
        self.r1 = ctx_region.address
        self.r2 = 0
        env.context = self

    def _packet_region(self) -> Region:
        """[data, data_end) of the frame; a socket filter may not write it."""
        return Region.at(self.data, self.data_end - self.data, name="packet", owner=self.frame,
                         writable=self.program_type != ProgramType.SOCKET_FILTER)

    def rearm(self, data: int, data_end: int) -> None:
        """Make this context of a finished run (adopt_frame) the context of a new run in the same
        frame, as adopt_frame would build it: packet at [data, data_end), regions registered again."""
        env = self.env
        assert self.ctx_region is not None and self.packet_region is not None
        env.add_run_region(self.ctx_region)
        self.ctx_region.ctx = self
        if (self.data, self.data_end) != (data, data_end):
            self.data, self.data_end = data, data_end
            self.packet_region = self._packet_region()
        env.add_run_region(self.packet_region)
        env.memory.forget()
        env.context = self

    @property
    def packet(self) -> tuple[int, int] | None:
        return (self.data, self.data_end - self.data)

    @property
    def length(self) -> int:
        return self.data_end - self.data

    def load(self, offset: int, size: int, pc: int | None) -> int:
        assert self.ctx_region is not None
        base = self.ctx_region.address
        if offset in _POINTER_FIELDS:
            if size != 4:
                raise field_fault("__sk_buff pointer access", offset, size, pc, base)
            return self.data_end if offset == 80 else self.data
        if offset in _NULL_POINTER_FIELDS:
            if size != 8:
                raise field_fault("__sk_buff pointer access", offset, size, pc, base)
            return 0
        if offset % size:
            raise field_fault("misaligned __sk_buff access", offset, size, pc, base)
        value: int = UNPACK[size](self.ctx_region.buffer, offset)[0]
        return value

    def store(self, offset: int, size: int, value: int, pc: int | None) -> None:
        assert self.ctx_region is not None
        if offset % size or not any(a <= offset and offset + size <= b for a, b in self._writable):
            raise field_fault("write to __sk_buff", offset, size, pc, self.ctx_region.address)
        PACK[size](self.ctx_region.buffer, offset, value)

    def data_out(self) -> bytes:
        """The packet from its Ethernet header; programs that start at L3 get it zeroed (like
        BPF_PROG_TEST_RUN, which pushes a cleared link-layer header back)."""
        packet = ctypes.string_at(self.data, self.data_end - self.data)
        return packet if self.l2 else bytes(ETH_HLEN) + packet

    def ctx_out(self) -> bytes | None:
        """The fields BPF_PROG_TEST_RUN copies back (the ctx_in ones); the rest reads as zero."""
        assert self.ctx_region is not None
        frame_len = self.data_end - self.data + (0 if self.l2 else ETH_HLEN)
        return ctx_out_fields(bytes(self.ctx_region.buffer), frame_len)  # the mask keeps the struct


def skb_refusal(data: bytes) -> str:
    """Why BPF_PROG_TEST_RUN would refuse `data` as an skb test packet, or "" when it fits."""
    if len(data) < ETH_HLEN:
        return f"an skb program needs at least {ETH_HLEN} bytes of packet (Ethernet)"
    if len(data) > SKB_MAX_TEST_SIZE:
        return (f"an skb test packet is at most {SKB_MAX_TEST_SIZE} bytes (got {len(data)};"
                " the kernel refuses larger test input too)")
    l3_min = _L3_MIN.get(data[12:14], 0)
    if len(data) - ETH_HLEN < l3_min:
        return (f"an IPv{4 if l3_min == 20 else 6} frame needs a complete {l3_min}-byte header"
                f" (got {len(data) - ETH_HLEN} bytes after Ethernet; the kernel refuses it too)")
    return ""


def skb_fits(data: bytes) -> bool:
    """not skb_refusal(data), without its checks for the usual lengths (any packet with room for an
    IPv6 header after Ethernet, up to the test run's page)."""
    return _FITS_ANY <= len(data) <= SKB_MAX_TEST_SIZE or not skb_refusal(data)


def fill_fields(fields: bytearray | memoryview, data: bytes, length: int) -> None:
    """The __sk_buff fields the test run derives from the packet: len (`length`, from the
    program's first byte), protocol, pkt_type, and ifindex when ctx_in left it zero."""
    _U32.pack_into(fields, _LEN, length)
    _U32.pack_into(fields, _PROTOCOL, int.from_bytes(data[12:14], "little"))
    _U32.pack_into(fields, _PKT_TYPE, _pkt_type(data[:6]))
    if not _U32.unpack_from(fields, _IFINDEX)[0]:
        _U32.pack_into(fields, _IFINDEX, LOOPBACK_IFINDEX)


def ctx_out_fields(now: bytes, frame_len: int) -> bytes:
    """What BPF_PROG_TEST_RUN copies back of the __sk_buff `now`: the ctx_in fields, the rest
    zero; wire_len defaults to `frame_len`, the length of the whole output frame."""
    out = int.from_bytes(now, "little") & _CTX_IN_MASK
    if not out >> _WIRE_LEN_BIT & 0xFFFFFFFF:
        out |= frame_len << _WIRE_LEN_BIT
    return out.to_bytes(SK_BUFF_SIZE, "little")


def _pkt_type(dest: bytes) -> int:
    """eth_type_trans on the loopback device (address 00:00:00:00:00:00)."""
    if dest[0] & 1:
        return 1 if dest == b"\xff" * 6 else 2  # PACKET_BROADCAST / PACKET_MULTICAST
    return 0 if dest == bytes(6) else 3  # PACKET_HOST / PACKET_OTHERHOST


class SkbFrames:
    """One skb frame and `__sk_buff` reused by the ordinary runs of one program (no ctx_in): a run
    copies its packet in and resets the fields, so it sees what a fresh SkbContext holds (bytes of
    an earlier packet beyond this one's end lie outside every region); used by both engines."""

    def __init__(self, program_type: int) -> None:
        self.program_type = program_type
        self.l2 = program_type in L2_PROGRAM_TYPES
        self.frame = (ctypes.c_ubyte * (_HEADROOM + SKB_MAX_TEST_SIZE))()
        self.view = memoryview(self.frame).cast("B")
        self.base = ctypes.addressof(self.frame)
        self.start = self.base + _HEADROOM
        self.ctx_region = Region.allocate(SK_BUFF_SIZE, name="__sk_buff")
        self.fields = memoryview(self.ctx_region.buffer).cast("B")
        self.l3_offset = 0 if self.l2 else ETH_HLEN  # where the program's packet starts in the frame
        self.data = self.data_end = self.start + self.l3_offset
        self.busy = False
        self._packet, self._packet_end = self.view[:0], -1  # outputs(): the view of the last packet
        self._last_ctx_out = (b"", b"")  # (fields, ctx_out) of the last outputs()
        self._context: SkbContext | None = None  # the previous run's, rearmed by the next one

    @staticmethod
    def fits(data: Any, ctx_in: bytes | None) -> bool:
        return ctx_in is None and type(data) is bytes and skb_fits(data)

    def load(self, data: bytes) -> None:
        """Copy `data` in and reset the fields as BPF_PROG_TEST_RUN derives them (fill_fields on
        blank fields, in one write of the first 20 bytes; caller: fits())."""
        size = len(data)
        self.view[_HEADROOM : _HEADROOM + size] = data
        self.data_end = self.start + size
        dest = data[:6]
        pkt_type = _DEST_PKT_TYPES.get(dest)
        fields = self.fields
        fields[:] = _BLANK_LOOPBACK
        _FIRST_FIELDS.pack_into(fields, 0, size - self.l3_offset,
                                _pkt_type(dest) if pkt_type is None else pkt_type, data[12] | data[13] << 8)

    def adopt(self, env: RunEnv) -> SkbContext:
        """The Python side of the loaded run: the previous run's context rearmed, or a new one."""
        context = self._context
        if context is None or context.env is not env:
            context = self._context = SkbContext.adopt_frame(
                env, self.frame, self.ctx_region, self.program_type, self.data, self.data_end)
        else:
            context.rearm(self.data, self.data_end)
        return context

    def context(self, env: RunEnv, data: bytes) -> SkbContext:
        """A fresh-looking SkbContext on `data` (the caller checked fits() and busy)."""
        self.load(data)
        return self.adopt(env)

    def outputs(self) -> tuple[bytes, bytes]:
        """(data_out, ctx_out) of the loaded run, as its context's data_out() and ctx_out() give them
        (an skb context never moves its packet: the frame's bounds are the run's). The view of the
        packet is the last run's when it has the same length, and so is ctx_out when the fields are
        the same (most runs leave them as the test run set them)."""
        end = self.data_end
        packet = self._packet
        if end != self._packet_end:
            base = self.base
            packet = self._packet = self.view[self.data - base : end - base]
            self._packet_end = end
        frame = packet.tobytes() if self.l2 else _ETH_ZEROS + packet.tobytes()
        now = self.fields.tobytes()
        last_fields, ctx_out = self._last_ctx_out
        if now != last_fields:  # the same fields, `len` among them, give the same ctx_out
            ctx_out = ctx_out_fields(now, len(frame))
            self._last_ctx_out = (now, ctx_out)
        return frame, ctx_out


SKB_PROGRAM_TYPES = frozenset(
    {
        ProgramType.SCHED_CLS, ProgramType.SCHED_ACT, ProgramType.SOCKET_FILTER,
        ProgramType.CGROUP_SKB, ProgramType.LWT_IN, ProgramType.LWT_OUT, ProgramType.LWT_XMIT,
        ProgramType.SK_SKB,
    }
)  # fmt: skip
