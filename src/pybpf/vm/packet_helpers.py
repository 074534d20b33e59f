"""User-space implementations of the packet helpers: XDP head/tail/meta adjustment, redirects,
skb byte loads/stores and incremental checksum replacement, with the kernel's return codes."""

from __future__ import annotations

import ctypes
import errno

from pybpf.abi import ProgramType, TcAction, XdpAction
from pybpf.errors import BpfError
from pybpf.isa.opcodes import M64
from pybpf.vm.contexts import (
    ETH_HLEN,
    XDP_FRAG_SIZE,
    XDP_FRAME_RESERVED,
    XdpContext,
    context_of,
)
from pybpf.vm.helper_registry import HelperEnv, implements
from pybpf.vm.ops import sign_extend
from pybpf.vm.skb_context import SkbContext

EINVAL = -errno.EINVAL & M64
EFAULT = -errno.EFAULT & M64
EACCES = -errno.EACCES & M64
ENOTSUPP = -524 & M64

BPF_F_RECOMPUTE_CSUM = 1 << 0
BPF_F_INVALIDATE_HASH = 1 << 1
BPF_F_HDR_FIELD_MASK = 0xF
BPF_F_PSEUDO_HDR = 1 << 4
BPF_F_MARK_MANGLED_0 = 1 << 5
BPF_F_MARK_ENFORCE = 1 << 6
BPF_F_IPV6 = 1 << 7
BPF_F_INGRESS = 1 << 0
BPF_F_BROADCAST = 1 << 3
BPF_F_EXCLUDE_INGRESS = 1 << 4
XDP_ACTION_MASK = 0x3


def _xdp(env: HelperEnv) -> XdpContext | None:
    ctx = context_of(env)
    return ctx if isinstance(ctx, XdpContext) else None


def _skb(env: HelperEnv) -> SkbContext | None:
    ctx = context_of(env)
    return ctx if isinstance(ctx, SkbContext) else None


# --- XDP ---------------------------------------------------------------------------------


@implements(44)
def xdp_adjust_head(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_xdp_adjust_head(xdp, delta): move data by delta (grow into the headroom when < 0)."""
    ctx = _xdp(env)
    if ctx is None:
        return EINVAL
    delta = sign_extend(r2, 32)
    metalen = ctx.data - ctx.data_meta
    data_start = ctx.hard_start + XDP_FRAME_RESERVED + metalen
    data = ctx.data + delta
    if data < data_start or data > ctx.data_end - ETH_HLEN:
        return EINVAL
    if metalen:
        ctypes.memmove(ctx.data_meta + delta, ctx.data_meta, metalen)
    ctx.set_bounds(ctx.data_meta + delta, data, ctx.data_end)
    return 0


@implements(54)
def xdp_adjust_meta(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_xdp_adjust_meta(xdp, delta): move data_meta (4-byte aligned metadata before data)."""
    ctx = _xdp(env)
    if ctx is None:
        return EINVAL
    meta = ctx.data_meta + sign_extend(r2, 32)
    metalen = ctx.data - meta
    if meta < ctx.hard_start + XDP_FRAME_RESERVED or meta > ctx.data:
        return EINVAL
    if metalen > 255 or metalen & 3:
        return EACCES
    ctx.set_bounds(meta, ctx.data, ctx.data_end)
    return 0


@implements(65)
def xdp_adjust_tail(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_xdp_adjust_tail(xdp, delta): move data_end (new bytes are zeroed)."""
    ctx = _xdp(env)
    if ctx is None:
        return EINVAL
    delta = sign_extend(r2, 32)
    if ctx.frags:
        return _adjust_frags_tail(ctx, delta)
    data_end = ctx.data_end + delta
    if data_end > ctx.hard_end or data_end < ctx.data + ETH_HLEN:
        return EINVAL
    if delta > 0:
        ctypes.memset(ctx.data_end, 0, delta)
    ctx.set_bounds(ctx.data_meta, ctx.data, data_end)
    return 0


def _adjust_frags_tail(ctx: XdpContext, delta: int) -> int:
    """adjust_tail of a multi-buffer packet: the last fragment grows; shrinking eats fragments
    from the end, then the linear part once they are gone."""
    if delta > 0:
        last = ctx.frags[-1]
        if len(last) + delta > XDP_FRAG_SIZE:
            return EINVAL
        last.extend(bytes(delta))
        return 0
    shrink = -delta
    if shrink > (ctx.data_end - ctx.data) + ctx.frags_size - ETH_HLEN:
        return EINVAL
    while ctx.frags and shrink:
        cut = min(shrink, len(ctx.frags[-1]))
        del ctx.frags[-1][len(ctx.frags[-1]) - cut :]
        shrink -= cut
        if not ctx.frags[-1]:
            ctx.frags.pop()
    if shrink:
        ctx.set_bounds(ctx.data_meta, ctx.data, ctx.data_end - shrink)
    return 0


@implements(23)
def redirect(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_redirect(ifindex, flags): XDP_REDIRECT / TC_ACT_REDIRECT, the target recorded."""
    if env.program_type == ProgramType.XDP:
        if r2:
            return int(XdpAction.ABORTED)
        _record_redirect(env, ifindex=r1 & 0xFFFFFFFF, flags=r2)
        return int(XdpAction.REDIRECT)
    if r2 & ~BPF_F_INGRESS:
        return int(TcAction.SHOT)
    _record_redirect(env, ifindex=r1 & 0xFFFFFFFF, flags=r2)
    return int(TcAction.REDIRECT)


@implements(51)
def redirect_map(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_redirect_map(map, key, flags): XDP_REDIRECT if the key is present, else flags' action."""
    if r3 & ~(XDP_ACTION_MASK | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS):
        return int(XdpAction.ABORTED)
    m = env.map_from_pointer(r1)
    key = (r2 & 0xFFFFFFFF).to_bytes(4, "little")
    try:
        present = m.key_size == 4 and m.lookup(key) is not None
    except BpfError:  # a map that cannot be looked up from user space acts as empty
        present = False
    if not present and not r3 & BPF_F_BROADCAST:
        return r3 & XDP_ACTION_MASK
    _record_redirect(env, map_name=m.name, key=r2 & 0xFFFFFFFF, flags=r3)
    return int(XdpAction.REDIRECT)


def _record_redirect(env: HelperEnv, **target: object) -> None:
    extra = getattr(env, "extra", None)
    if isinstance(extra, dict):
        extra["redirect"] = target


# --- skb bytes -----------------------------------------------------------------------------


@implements(26)
def skb_load_bytes(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_load_bytes(skb, offset, to, len): copy packet bytes; on error zero `to`, -EFAULT."""
    ctx = _skb(env)
    offset, length = r2 & 0xFFFFFFFF, r4 & 0xFFFFFFFF
    if ctx is None or offset > 0x7FFFFFFF or offset + length > ctx.length:
        if length:
            env.write(r3, bytes(length))
        return EFAULT
    env.write(r3, env.read(ctx.data + offset, length) if length else b"")
    return 0


@implements(9)
def skb_store_bytes(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_store_bytes(skb, offset, from, len, flags): write packet bytes."""
    ctx = _skb(env)
    if r5 & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH):
        return EINVAL
    offset, length = r2 & 0xFFFFFFFF, r4 & 0xFFFFFFFF
    if ctx is None or offset > 0xFFFF or offset + length > ctx.length:
        return EFAULT
    data = env.read(r3, length)
    ctypes.memmove(ctx.data + offset, data, length)
    return 0


# --- checksums ---------------------------------------------------------------------------


def _add32(a: int, b: int) -> int:
    s = (a & 0xFFFFFFFF) + (b & 0xFFFFFFFF)
    return (s & 0xFFFFFFFF) + (s >> 32)


def _fold(x: int) -> int:
    x = (x & 0xFFFF) + (x >> 16)
    x = (x & 0xFFFF) + (x >> 16)
    return ~x & 0xFFFF


def _replace(field: int, size: int, old: int, new: int) -> int:
    """The 16-bit checksum `field` after replacing `old` by `new` (size 0: new is a diff)."""
    if size == 0:
        return _fold(_add32(new, ~field & 0xFFFFFFFF))
    if size == 2:
        s = (~field & 0xFFFF) + (~old & 0xFFFF)
        s = (s & 0xFFFF) + (s >> 16)
        s += new & 0xFFFF
        s = (s & 0xFFFF) + (s >> 16)
        return ~s & 0xFFFF
    tmp = _add32(~field & 0xFFFFFFFF, ~old & 0xFFFFFFFF)
    return _fold(_add32(tmp, new))


def _csum_field(env: HelperEnv, offset: int) -> tuple[SkbContext, int] | int:
    ctx = _skb(env)
    if ctx is None or offset > 0xFFFF or offset & 1 or offset + 2 > ctx.length:
        return EFAULT
    return ctx, ctx.data + offset


@implements(10)
def l3_csum_replace(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_l3_csum_replace(skb, offset, from, to, flags): fix an IP header checksum."""
    if r5 & ~BPF_F_HDR_FIELD_MASK:
        return EINVAL
    found = _csum_field(env, r2 & 0xFFFFFFFF)
    if isinstance(found, int):
        return found
    _, address = found
    size = r5 & BPF_F_HDR_FIELD_MASK
    if size not in (0, 2, 4) or (size == 0 and r3):
        return EINVAL
    field = int.from_bytes(env.read(address, 2), "little")
    env.write(address, _replace(field, size, r3, r4).to_bytes(2, "little"))
    return 0


@implements(11)
def l4_csum_replace(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_l4_csum_replace(skb, offset, from, to, flags): fix a TCP/UDP checksum."""
    allowed = BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK
    if r5 & ~(allowed | BPF_F_IPV6):
        return EINVAL
    found = _csum_field(env, r2 & 0xFFFFFFFF)
    if isinstance(found, int):
        return found
    _, address = found
    size = r5 & BPF_F_HDR_FIELD_MASK
    if size not in (0, 2, 4) or (size == 0 and r3):
        return EINVAL
    field = int.from_bytes(env.read(address, 2), "little")
    mangled0 = bool(r5 & BPF_F_MARK_MANGLED_0)
    if mangled0 and not r5 & BPF_F_MARK_ENFORCE and field == 0:
        return 0  # UDP without a checksum stays without one
    new = _replace(field, size, r3, r4)
    if mangled0 and new == 0:
        new = 0xFFFF  # CSUM_MANGLED_0
    env.write(address, new.to_bytes(2, "little"))
    return 0
