"""Contexts whose rules depend on the expected attach type: cgroup_sock (struct bpf_sock) and cgroup_sock_addr.

The kernel's sock_filter_is_valid_access and sock_addr_is_valid_access decide by
`prog->expected_attach_type`: a connect4 program may read user_ip4 but not user_ip6, a
post_bind4 one reads src_ip4 while a sock_create one may write mark and priority. These rules
are the kernel's uapi contract (the same on every build), written down here as (offset, size)
pairs; return ranges by attach type come with them.
"""

from __future__ import annotations

from functools import cache

from pybpf.abi import AttachType as T
from pybpf.abi import ProgramType as P
from pybpf.verifier.context import ProbedLayout
from pybpf.verifier.state import RegType

Pairs = frozenset[tuple[int, int]]


def _narrow(start: int, end: int) -> set[tuple[int, int]]:
    """Reads of 1, 2 or 4 aligned bytes anywhere in [start, end) (bpf_ctx_narrow_access_ok)."""
    return {(off, size) for size in (1, 2, 4) for off in range(start, end, size)}


def _wide(start: int, end: int) -> set[tuple[int, int]]:
    """8-byte accesses at 8-aligned offsets inside a u32[4] address (bpf_ctx_wide_access_ok)."""
    return {(off, 8) for off in range(start, end - 7) if off % 8 == 0}


# struct bpf_sock: bound_dev_if 0, family 4, type 8, protocol 12, mark 16, priority 20, src_ip4 24,
# src_ip6[4] 28, src_port 44, dst_port 48 (__be16, 2 bytes of padding), dst_ip4 52, dst_ip6[4] 56,
# state 72, rx_queue_mapping 76.
_SOCK_CREATE = (T.CGROUP_INET_SOCK_CREATE, T.CGROUP_INET_SOCK_RELEASE)


def _bpf_sock(attach: int) -> ProbedLayout:
    reads: set[tuple[int, int]] = {(0, 4), (16, 4), (20, 4)} if attach in _SOCK_CREATE else set()
    writes = {(0, 4), (16, 4), (20, 4)} if attach in _SOCK_CREATE else set()
    for off in (4, 8, 12, 72, 76):  # family, type, protocol, state, rx_queue_mapping: narrow at the start
        reads |= {(off, 1), (off, 2), (off, 4)}
    reads |= _narrow(52, 56) | _narrow(56, 72)  # dst_ip4, dst_ip6
    reads |= {(48, 4), (48, 1), (48, 2), (49, 1)}  # dst_port: the u32 or its two bytes
    if attach == T.CGROUP_INET4_POST_BIND:
        reads |= _narrow(24, 28)
    if attach == T.CGROUP_INET6_POST_BIND:
        reads |= _narrow(28, 44)
    if attach in (T.CGROUP_INET4_POST_BIND, T.CGROUP_INET6_POST_BIND):
        reads |= {(44, 1), (44, 2), (44, 4)}  # src_port
    return ProbedLayout("bpf_sock", frozenset(reads), frozenset(writes), {})


# struct bpf_sock_addr: user_family 0, user_ip4 4, user_ip6[4] 8, user_port 24, family 28, type 32,
# protocol 36, msg_src_ip4 40, msg_src_ip6[4] 44, sk 64 (a struct bpf_sock pointer).
_IP4 = (T.CGROUP_INET4_BIND, T.CGROUP_INET4_CONNECT, T.CGROUP_INET4_GETPEERNAME, T.CGROUP_INET4_GETSOCKNAME,
        T.CGROUP_UDP4_SENDMSG, T.CGROUP_UDP4_RECVMSG)
_IP6 = (T.CGROUP_INET6_BIND, T.CGROUP_INET6_CONNECT, T.CGROUP_INET6_GETPEERNAME, T.CGROUP_INET6_GETSOCKNAME,
        T.CGROUP_UDP6_SENDMSG, T.CGROUP_UDP6_RECVMSG)
SOCK_ADDR_TYPES = frozenset({*_IP4, *_IP6, T.CGROUP_UNIX_CONNECT, T.CGROUP_UNIX_SENDMSG, T.CGROUP_UNIX_RECVMSG,
                             T.CGROUP_UNIX_GETPEERNAME, T.CGROUP_UNIX_GETSOCKNAME})


def _sock_addr(attach: int) -> ProbedLayout:
    fields: list[tuple[int, int]] = [(24, 28)]  # user_port
    if attach in _IP4:
        fields.append((4, 8))
    if attach in _IP6:
        fields.append((8, 24))
    if attach == T.CGROUP_UDP4_SENDMSG:
        fields.append((40, 44))
    if attach == T.CGROUP_UDP6_SENDMSG:
        fields.append((44, 60))
    reads = {(0, 4), (28, 4), (32, 4), (36, 4), (64, 8)}  # user_family, family, type, protocol, sk
    writes: set[tuple[int, int]] = set()
    for start, end in fields:
        reads |= _narrow(start, end)
        writes |= {(off, 4) for off in range(start, end, 4)}
        if end - start == 16:
            reads |= _wide(start, end)
            writes |= _wide(start, end)
    return ProbedLayout("bpf_sock_addr", frozenset(reads), frozenset(writes),
                        {64: (RegType.PTR_TO_SOCKET, False)})


@cache
def layout(program_type: int, attach: int | None) -> ProbedLayout | None:
    """The context rules of an attach-type dependent program type, or None for the others."""
    if program_type == P.CGROUP_SOCK:
        # the kernel loads a cgroup_sock program without an expected attach type as sock_create
        return _bpf_sock(T.CGROUP_INET_SOCK_CREATE if attach is None else attach)
    if program_type == P.CGROUP_SOCK_ADDR and attach in SOCK_ADDR_TYPES:
        return _sock_addr(attach)
    return None


_RET_ONE = (T.CGROUP_UDP4_RECVMSG, T.CGROUP_UDP6_RECVMSG, T.CGROUP_UNIX_RECVMSG, T.CGROUP_INET4_GETPEERNAME,
            T.CGROUP_INET6_GETPEERNAME, T.CGROUP_UNIX_GETPEERNAME, T.CGROUP_INET4_GETSOCKNAME,
            T.CGROUP_INET6_GETSOCKNAME, T.CGROUP_UNIX_GETSOCKNAME)


def return_range(program_type: int, attach: int | None) -> tuple[int, int] | None:
    """check_return_code's range where the attach type changes it (None: the program type's default)."""
    if program_type == P.CGROUP_SOCK_ADDR:
        if attach in _RET_ONE:
            return (1, 1)
        if attach in (T.CGROUP_INET4_BIND, T.CGROUP_INET6_BIND):
            return (0, 3)
    return None
