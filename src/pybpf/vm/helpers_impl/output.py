"""Event output helpers: bpf_perf_event_output and the ring buffer (output/reserve/submit/discard/query)."""

from __future__ import annotations

from typing import Any

from pybpf.abi import ProgramType
from pybpf.errors import RuntimeFault
from pybpf.vm.helper_registry import HelperEnv, helper_state, implements
from pybpf.vm.helpers_impl.common import EFAULT, EINVAL, ENOTSUPP, expose, rc

BPF_F_CTXLEN_MASK = 0xFFFFF << 32
# programs whose bpf_perf_event_output may append packet bytes (flags bits 32..51)
PACKET_OUTPUT_TYPES = frozenset(
    {
        ProgramType.SOCKET_FILTER, ProgramType.SCHED_CLS, ProgramType.SCHED_ACT, ProgramType.XDP,
        ProgramType.CGROUP_SKB, ProgramType.LWT_IN, ProgramType.LWT_OUT, ProgramType.LWT_XMIT,
        ProgramType.SK_SKB,
    }
)  # fmt: skip


def _packet_bytes(env: HelperEnv, count: int) -> bytes | None:
    """The first `count` bytes of the running program's packet (None when it has fewer)."""
    ctx: Any = getattr(env, "context", None)
    packet = getattr(ctx, "packet", None)
    if packet is None:
        return None
    address, length = packet
    if count > length:
        return None
    return env.read(address, count)


@implements(25)
def perf_event_output(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_perf_event_output(ctx, map, flags, data, size): send a sample to a perf event array slot."""
    m = env.map_from_pointer(r2)
    output = getattr(m, "output", None)
    if output is None or not hasattr(m, "read"):
        return EINVAL
    data = env.read(r4, r5) if r5 else b""
    ctxlen = (r3 & BPF_F_CTXLEN_MASK) >> 32
    if ctxlen:
        if env.program_type not in PACKET_OUTPUT_TYPES:
            return EINVAL
        extra = _packet_bytes(env, ctxlen)
        if extra is None:
            return EFAULT
        data += extra
    return rc(output(r3 & ~BPF_F_CTXLEN_MASK, data, env.cpu))


def _ring(env: HelperEnv, pointer: int) -> Any:
    m = env.map_from_pointer(pointer)
    if not hasattr(m, "reserve"):
        raise RuntimeFault(f"map {m.name!r} is not a ring buffer")
    return m


def _records(env: HelperEnv) -> dict[int, Any]:
    """Reserved ring buffer samples of this runtime: sample address -> ring buffer."""
    return helper_state(env, "ringbuf_records", dict)


@implements(130)
def ringbuf_output(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_output(ringbuf, data, size, flags): 0, -EAGAIN when full, -EINVAL for bad flags."""
    ring = _ring(env, r1)
    data = env.read(r2, r3) if r3 else b""
    return rc(ring.output(data, r4))


@implements(131)
def ringbuf_reserve(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_reserve(ringbuf, size, flags): a pointer to `size` writable bytes, or NULL."""
    ring = _ring(env, r1)
    address = int(ring.reserve(r2, r3))
    if address:
        _records(env)[address] = ring
        expose(env, address, r2, writable=True, name=f"ringbuf {ring.name} record", owner=ring)
    return address


def _commit(env: HelperEnv, address: int, flags: int, discard: bool) -> int:
    ring = _records(env).pop(address, None)
    if ring is None:
        raise RuntimeFault(f"{address:#x} is not a reserved ring buffer record", address=address)
    ring.commit(address, flags, discard=discard)
    return 0


@implements(132)
def ringbuf_submit(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_submit(data, flags): make a reserved record visible to the reader."""
    return _commit(env, r1, r2, False)


@implements(133)
def ringbuf_discard(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_discard(data, flags): drop a reserved record."""
    return _commit(env, r1, r2, True)


@implements(134)
def ringbuf_query(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_query(ringbuf, flags): available data, ring size, consumer or producer position."""
    m = env.map_from_pointer(r1)
    query = getattr(m, "query", None)
    return rc(query(r2)) if query is not None else ENOTSUPP
