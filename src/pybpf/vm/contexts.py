"""Program contexts for user-space runs: raw memory and XDP `struct xdp_md` (skb: skb_context; choice: context_factory).

A context builds the memory a run sees (context struct, packet) inside a RunEnv and converts
context accesses the way the kernel does: the 32-bit `data`/`data_end`/`data_meta` fields read
as full pointers into the packet, read-only fields refuse writes. After the run it gives the
output packet (`data_out`) and context (`ctx_out`). Defaults follow BPF_PROG_TEST_RUN on Linux:
the packet arrives on the loopback device (ifindex 1), XDP gets 256 bytes of headroom in a
4096-byte frame, tc programs see the packet from the Ethernet header, socket filters from L3.
"""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path
from typing import Any

from pybpf.errors import BpfError, RuntimeFault
from pybpf.vm.memory import UNPACK, Region
from pybpf.vm.run_env import RunEnv

XDP_PACKET_HEADROOM = 256
XDP_FRAME_SIZE = 4096
XDP_TAILROOM = 320  # SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on 64-bit Linux
XDP_FRAME_RESERVED = 40  # sizeof(struct xdp_frame), kept free at the start of the headroom
XDP_MAX_LINEAR = XDP_FRAME_SIZE - XDP_PACKET_HEADROOM - XDP_TAILROOM  # 3520 bytes
XDP_FRAG_SIZE = 4096  # one page per fragment
MAX_SKB_FRAGS = 17
ETH_HLEN = 14
LOOPBACK_IFINDEX = 1


class DataScratch:
    """A buffer reused by one program's runs for a copy of their input (grow-only): large inputs
    cost a copy in and out, not a fresh allocation (and its page faults) per run."""

    def __init__(self) -> None:
        self.buffer: Any = None
        self.view = memoryview(b"")
        self.base = 0
        self.busy = False

    def load(self, data: bytes) -> int:
        """Copy `data` to the start of the buffer (grown first if it is too small); its address."""
        size = len(data)
        if size > len(self.view):
            self.buffer = (ctypes.c_ubyte * size)()
            self.view = memoryview(self.buffer).cast("B")
            self.base = ctypes.addressof(self.buffer)
        self.view[:size] = data
        return self.base

    def packet(self, size: int) -> Region:
        """The first `size` bytes of the buffer as a run's packet region."""
        return Region.within(self.view, self.base, self.base, size, name="packet", owner=self.buffer)

    def region(self, data: bytes) -> Region:
        """`data` copied in, as a run's packet region."""
        self.load(data)
        return self.packet(len(data))


# A plain input of at least this many bytes that the program may write is copied straight into
# the bytes object data_out will be, which the run then writes in place: a fresh bytes object no
# one else has seen yet (CPython shares the ones of 0 and 1 bytes only), filled before it is
# returned, as C code fills the bytes objects it makes. Smaller inputs use the DataScratch.
OUTPUT_IN_PLACE_MIN = 64 << 10
_new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
_new_bytes.restype = ctypes.py_object
_new_bytes.argtypes = [ctypes.c_char_p, ctypes.c_ssize_t]


def writable_buffer(data: Any) -> bool:
    """Whether `data` is a writable, contiguous byte buffer a run may share (a bytearray, a
    writable memoryview, a ctypes array) rather than an immutable one it must copy to write."""
    if type(data) is bytes:
        return False
    try:
        view = memoryview(data)
    except TypeError:
        return False
    return not view.readonly and view.c_contiguous and view.itemsize == 1 and view.ndim == 1


class Context:
    """The memory of one run of a program with no special context: r1 = data, r2 = len."""

    ctx_size = 0

    def __init__(
        self, env: RunEnv, data: bytes = b"", ctx_in: bytes | None = None, *,
        in_place: bool = False, scratch: DataScratch | None = None, shared: bool = False,
    ) -> None:
        """`in_place`: the program cannot write its input (pybpf.vm.loadcheck.may_write_memory),
        so the run reads `data` itself, read-only, and data_out is `data`: no copy either way.
        `scratch`: a buffer reused across runs for the copy (no allocation per run).
        `shared`: `data` is the caller's writable buffer (see `writable_buffer`): the run reads
        and writes it in place, so it holds the output packet when the run ends (and the writes
        done before a fault when it faults), and data_out is `data` itself: no copy either way."""
        self.env = env
        self.packet_region: Region | None = None
        self.ctx_region: Region | None = None
        self.data_in: Any = None
        self.r1 = 0
        self.r2 = 0
        if data:
            if shared:
                array = (ctypes.c_ubyte * len(data)).from_buffer(data)  # holds the buffer's export
                base = ctypes.addressof(array)
                region = Region.within(memoryview(array).cast("B"), base, base, len(data),
                                       name="packet", owner=array)
                self.data_in = data
            elif in_place and type(data) is bytes:
                address = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
                region = Region.within(memoryview(data), address, address, len(data), name="packet",
                                       writable=False, owner=data)
                self.data_in = data
            elif type(data) is bytes and len(data) >= OUTPUT_IN_PLACE_MIN:
                # the output must be a new bytes object anyway: make it now, as a copy of the
                # input, and let the run write it in place (one copy instead of in and out)
                output = _new_bytes(data, len(data))
                address = ctypes.cast(ctypes.c_char_p(output), ctypes.c_void_p).value or 0
                array = (ctypes.c_ubyte * len(data)).from_address(address)
                region = Region.within(memoryview(array).cast("B"), address, address, len(data),
                                       name="packet", owner=output)
                self.data_in = output
            elif scratch is not None:
                region = scratch.region(data)
            else:
                region = Region.allocate(len(data), name="packet", init=bytes(data))
            self.packet_region = env.add_run_region(region)
            self.r1 = self.packet_region.address
            self.r2 = len(data)
        if ctx_in is not None:
            self.ctx_region = env.add_run_region(
                Region.allocate(len(ctx_in), name="ctx", init=bytes(ctx_in))
            )
            if not data:
                self.r1 = self.ctx_region.address
                self.r2 = len(ctx_in)
        env.context = self

    @classmethod
    def adopt(cls, env: RunEnv, ctx_region: Region) -> Context:
        """The context of a run already under way on `ctx_region` (no packet: r1 = its address,
        r2 = its size), as __init__ builds it for ctx_in alone (pybpf.vm.jit.fastrun)."""
        self = cls.__new__(cls)
        self.env = env
        self.packet_region = None
        self.ctx_region = env.add_run_region(ctx_region)
        self.r1 = ctx_region.address
        self.r2 = ctx_region.size
        env.context = self
        return self

    @classmethod
    def adopt_packet(cls, env: RunEnv, region: Region, data_in: bytes | None) -> Context:
        """The context of a run already under way on the plain input `region` (r1 = its address,
        r2 = its size; pybpf.vm.jit.plainrun); `data_in`: the bytes object the run reads in place
        (data_out is then that object), None for a copy."""
        self = cls.__new__(cls)
        self.env = env
        self.ctx_region = None
        self.data_in = data_in
        self.packet_region = env.add_run_region(region)
        self.r1 = region.address
        self.r2 = region.size
        env.context = self
        return self

    @property
    def packet(self) -> tuple[int, int] | None:
        """(address, length) of the packet legacy ldabs/ldind read."""
        region = self.packet_region
        return None if region is None else (region.address, region.size)

    def data_out(self) -> bytes:
        if self.data_in is not None:
            return self.data_in
        region = self.packet_region
        return b"" if region is None else region.read(0, region.size)

    def ctx_out(self) -> bytes | None:
        region = self.ctx_region
        return None if region is None else region.read(0, region.size)

    # converted accesses (only contexts with ctx_region.ctx set receive them)
    def load(self, offset: int, size: int, pc: int | None) -> int:
        raise RuntimeFault("invalid context access", pc=pc, size=size)

    def store(self, offset: int, size: int, value: int, pc: int | None) -> None:
        raise RuntimeFault("invalid context access", pc=pc, size=size)


def field_fault(what: str, offset: int, size: int, pc: int | None, base: int) -> RuntimeFault:
    return RuntimeFault(
        f"invalid {what} (off={offset} size={size})", pc=pc, address=base + offset, size=size
    )


def _net_devices() -> dict[int, str] | None:
    """ifindex -> name of this machine's network devices (None where /sys/class/net is absent)."""
    root = Path("/sys/class/net")
    if not root.is_dir():
        return None
    devices = {}
    for dev in root.iterdir():
        try:
            devices[int((dev / "ifindex").read_text())] = dev.name
        except (OSError, ValueError):
            continue
    return devices


def _rx_queues(name: str) -> int | None:
    try:
        return sum(1 for q in Path("/sys/class/net", name, "queues").iterdir()
                   if q.name.startswith("rx-"))
    except OSError:
        return None


def _check_xdp_ctx_in(given: list[int], size: int) -> None:
    """The kernel's rules for an xdp_md given to BPF_PROG_TEST_RUN (EINVAL otherwise)."""
    data, data_end, data_meta, ifindex, queue, egress = given
    if data_meta or egress:
        raise BpfError("ctx_in: xdp_md.data_meta and egress_ifindex must be 0")
    if data_end > size or data > data_end:
        raise BpfError(f"ctx_in: xdp_md.data_end must be within the packet ({size} bytes)")
    if data & 3 or data > 255:
        raise BpfError("ctx_in: xdp_md.data (the metadata length) must be a multiple of 4")
    if not ifindex and queue:
        raise BpfError("ctx_in: xdp_md.rx_queue_index needs an ingress_ifindex")
    devices = _net_devices() if ifindex else None
    if devices is not None:
        name = devices.get(ifindex)
        if name is None:
            raise BpfError(f"ctx_in: no network device with ifindex {ifindex}")
        queues = _rx_queues(name)
        if queues is not None and queue >= queues:
            raise BpfError(f"ctx_in: {name} has {queues} rx queue(s), not queue {queue}")


_XDP_MD_REST = (LOOPBACK_IFINDEX, 0, 0)  # ingress_ifindex, rx_queue_index, egress_ifindex


class XdpContext(Context):
    """`struct xdp_md` over a 4096-byte frame: 256 bytes of headroom, packet, tailroom.

    Like BPF_PROG_TEST_RUN, at most 3520 bytes (or ctx_in's data_end) are linear and visible to
    the program; the rest of the input is kept in page-sized fragments (multi-buffer XDP), which
    bpf_xdp_adjust_tail grows and shrinks and which come back at the end of data_out.
    """

    ctx_size = 24  # data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
    _FIELDS = struct.Struct("<6I")

    def __init__(self, env: RunEnv, data: bytes = b"", ctx_in: bytes | None = None) -> None:
        self.env = env
        data = bytes(data)
        if len(data) < ETH_HLEN:
            raise BpfError(
                f"an XDP program needs at least {ETH_HLEN} bytes of packet (got {len(data)};"
                " the kernel refuses shorter test input too)"
            )
        fields = [0, 0, 0, LOOPBACK_IFINDEX, 0, 0]
        meta_len = 0
        linear = min(len(data), XDP_MAX_LINEAR)
        self.ctx_in_fields: list[int] | None = None
        if ctx_in:
            raw = bytes(ctx_in)[: self.ctx_size].ljust(self.ctx_size, b"\0")
            given = list(self._FIELDS.unpack(raw))
            _check_xdp_ctx_in(given, len(data))
            meta_len = given[0]  # xdp_md.data in ctx_in: bytes of metadata before the packet
            linear = given[1]  # xdp_md.data_end: the linear part; the rest becomes fragments
            if linear > XDP_MAX_LINEAR + meta_len:
                raise BpfError(f"ctx_in: xdp_md.data_end {linear} exceeds the linear frame")
            if given[3]:
                fields[3] = given[3]
            fields[4] = given[4]
            self.ctx_in_fields = given
        rest = data[linear:]
        # Bytes beyond the linear part live in page-sized fragments (multi-buffer XDP).
        self.frags = [bytearray(rest[i : i + XDP_FRAG_SIZE]) for i in range(0, len(rest), XDP_FRAG_SIZE)]
        if len(self.frags) > MAX_SKB_FRAGS:
            raise BpfError(f"packet too large: more than {MAX_SKB_FRAGS} fragments")
        self.frame_size = XDP_FRAME_SIZE
        self.frame = (ctypes.c_ubyte * self.frame_size)()
        self.frame_view = memoryview(self.frame).cast("B")
        self.hard_start = ctypes.addressof(self.frame)
        self.hard_end = self.hard_start + self.frame_size - XDP_TAILROOM
        # the metadata is taken from the headroom: data itself starts after 256 bytes
        self.data_meta = self.hard_start + XDP_PACKET_HEADROOM - meta_len
        ctypes.memmove(self.data_meta, data, linear)
        self.data = self.data_meta + meta_len
        self.data_end = self.data_meta + linear
        self.ctx_region = env.add_run_region(
            Region.allocate(self.ctx_size, name="xdp_md", init=self._FIELDS.pack(*fields))
        )
        self.ctx_region.ctx = self
        self.packet_region = None
        self._remap()
        self.r1 = self.ctx_region.address
        self.r2 = 0
        env.context = self

    @classmethod
    def adopt_frame(
        cls, env: RunEnv, frame: Any, ctx_region: Region, data_meta: int, data: int, data_end: int
    ) -> XdpContext:
        """The context of a run already under way in a reused frame (pybpf.vm.jit.fastrun): the
        packet is in `frame` at [data_meta, data_end), `ctx_region` holds the xdp_md fields.
        Registers the regions in `env` as __init__ does; no fragments, no ctx_in."""
        self = cls.__new__(cls)
        self.env = env
        self.ctx_in_fields = None
        self.frags = []
        self.frame_size = ctypes.sizeof(frame)
        self.frame = frame
        self.frame_view = memoryview(frame).cast("B")
        self.hard_start = ctypes.addressof(frame)
        self.hard_end = self.hard_start + self.frame_size - XDP_TAILROOM
        self.data_meta, self.data, self.data_end = data_meta, data, data_end
        self.ctx_region = env.add_run_region(ctx_region)
        ctx_region.ctx = self
        self.packet_region = None
        self._remap()
        self.r1 = ctx_region.address
        self.r2 = 0
        env.context = self
        return self

    def rearm(self, data: int, data_end: int) -> None:
        """Make this context of a finished run (adopt_frame) the context of a new run in the same
        frame, as adopt_frame would build it: packet at [data, data_end), no metadata, no
        fragments, regions registered in the RunEnv again."""
        env = self.env
        self.frags = []
        self.data_meta = self.data = data
        self.data_end = data_end
        assert self.ctx_region is not None
        env.add_run_region(self.ctx_region)
        packet = self.packet_region
        if packet is None or packet.address != data or packet.end != data_end:
            packet = self.packet_region = Region.within(
                self.frame_view, self.hard_start, data, data_end - data, name="packet", owner=self.frame)
        env.add_run_region(packet)
        env.memory.forget()
        env.context = self

    def _remap(self) -> None:
        """Expose exactly [data_meta, data_end) of the frame as the packet region."""
        env = self.env
        if self.packet_region is not None:
            env.memory.remove(self.packet_region)
        size = self.data_end - self.data_meta
        view = getattr(self, "frame_view", None)
        if view is None:
            view = self.frame_view = memoryview(self.frame).cast("B")
        self.packet_region = env.add_run_region(
            Region.within(view, self.hard_start, self.data_meta, size, name="packet", owner=self.frame)
        )
        env.memory.forget()

    def set_bounds(self, data_meta: int, data: int, data_end: int) -> None:
        """Move the packet pointers (xdp_adjust_head/tail/meta) and re-expose the packet."""
        self.data_meta, self.data, self.data_end = data_meta, data, data_end
        self._remap()

    @property
    def packet(self) -> tuple[int, int] | None:
        return (self.data, self.data_end - self.data)

    def load(self, offset: int, size: int, pc: int | None) -> int:
        base = self.ctx_region.address if self.ctx_region is not None else 0
        if offset in (0, 4, 8):
            if size != 4:
                raise field_fault("xdp_md pointer access", offset, size, pc, base)
            return (self.data, self.data_end, self.data_meta)[offset // 4]
        assert self.ctx_region is not None
        if offset % size:
            raise field_fault("misaligned xdp_md access", offset, size, pc, base)
        value: int = UNPACK[size](self.ctx_region.buffer, offset)[0]
        return value

    def store(self, offset: int, size: int, value: int, pc: int | None) -> None:
        base = self.ctx_region.address if self.ctx_region is not None else 0
        raise field_fault("write to xdp_md", offset, size, pc, base)

    @property
    def frags_size(self) -> int:
        return sum(len(f) for f in self.frags)

    def data_out(self) -> bytes:
        """Metadata, linear packet and fragments, as BPF_PROG_TEST_RUN returns them."""
        base = self.hard_start
        linear = self.frame_view[self.data_meta - base : self.data_end - base].tobytes()
        return linear + b"".join(bytes(f) for f in self.frags) if self.frags else linear

    def ctx_out(self) -> bytes | None:
        """xdp_md as BPF_PROG_TEST_RUN returns it: ctx_in with data/data_end updated."""
        # the fields after data_meta are what the run started with: programs cannot write xdp_md
        # (store() refuses) and no helper does
        rest = _XDP_MD_REST if self.ctx_in_fields is None else self.ctx_in_fields[3:]
        meta = self.data_meta
        return self._FIELDS.pack(self.data - meta, self.data_end - meta, 0, *rest)


class XdpFrames:
    """One XDP frame and `xdp_md` reused by the ordinary runs of one program (no ctx_in, no
    fragments): a run copies its packet in and zeroes the rest of the frame, so it sees what a
    fresh frame would hold; its regions are registered in the RunEnv per run, as usual."""

    _ZEROS = memoryview(bytes(XDP_FRAME_SIZE))
    _XDP_MD = struct.pack("<6I", 0, 0, 0, LOOPBACK_IFINDEX, 0, 0)

    def __init__(self) -> None:
        self.frame = (ctypes.c_ubyte * XDP_FRAME_SIZE)()
        self.view = memoryview(self.frame).cast("B")
        self.hard_start = ctypes.addressof(self.frame)
        self.ctx_region = Region.allocate(XdpContext.ctx_size, name="xdp_md", init=self._XDP_MD)
        self.busy = False
        self._context: XdpContext | None = None  # the previous run's, rearmed by the next one

    @staticmethod
    def fits(data: Any, ctx_in: bytes | None) -> bool:
        return ctx_in is None and isinstance(data, bytes) and ETH_HLEN <= len(data) <= XDP_MAX_LINEAR

    def context(self, env: RunEnv, data: bytes) -> XdpContext:
        """A fresh-looking XdpContext on `data` (the caller checked fits() and busy)."""
        head, end = XDP_PACKET_HEADROOM, XDP_PACKET_HEADROOM + len(data)
        view = self.view
        view[:] = self._ZEROS
        view[head:end] = data
        # xdp_md needs no reset: programs cannot write it and no helper does
        start = self.hard_start + head
        context = self._context
        if context is None or context.env is not env:
            context = self._context = XdpContext.adopt_frame(
                env, self.frame, self.ctx_region, start, start, start + len(data))
        else:
            context.rearm(start, start + len(data))
        return context

    def outputs(self) -> tuple[bytes, bytes | None]:
        """(data_out, ctx_out) of the run in the context context() gave (as SkbFrames.outputs)."""
        context = self._context
        assert context is not None
        return context.data_out(), context.ctx_out()


def context_of(env: Any) -> Context | None:
    """The context of the run in progress (for helpers)."""
    ctx = getattr(env, "context", None)
    return ctx if isinstance(ctx, Context) else None
