"""Prototypes of the networking helpers: skb, xdp, redirect, sockets, lwt, cgroup and sysctl hooks."""

from __future__ import annotations

from pybpf.abi import MapType as M
from pybpf.abi import ProgramType as P
from pybpf.helpers import groups as G
from pybpf.helpers.protos_base import (
    ANY,
    BTF,
    CTX,
    KEY,
    MAP,
    MEM,
    RO,
    RO_NULL,
    SZ,
    SZ0,
    UNINIT,
    proto,
)
from pybpf.helpers.types import ArgType as A
from pybpf.helpers.types import HelperProto
from pybpf.helpers.types import RetType as R

INT, V = R.RET_INTEGER, R.RET_VOID
SKC = A.ARG_PTR_TO_BTF_ID_SOCK_COMMON
SOCK_COMMON = A.ARG_PTR_TO_SOCK_COMMON
FIXED = A.ARG_PTR_TO_FIXED_SIZE_MEM
SKB = G.SKB
TC = G.TC
TC_LWT = G.TC | G.LWT
XDP = G.XDP
TC_XDP = G.TC | G.XDP
SK_MSG = frozenset({P.SK_MSG})
SOCKOPS = frozenset({P.SOCK_OPS})
SYSCTL = frozenset({P.CGROUP_SYSCTL})
LOOKUP_TYPES = G.TC | G.XDP | frozenset({P.CGROUP_SKB, P.SK_SKB, P.CGROUP_SOCK_ADDR, P.SK_LOOKUP})
SOCK_CONTEXTS = G.SKB | G.XDP | G.CGROUP_SOCK_HOOKS | frozenset({P.SK_MSG, P.SK_LOOKUP}) | G.TRACING
LIRC = frozenset({P.LIRC_MODE2})
SEG6 = frozenset({P.LWT_SEG6LOCAL})

NET_PROTOS: tuple[HelperProto, ...] = (
    # --- skb data --------------------------------------------------------------------------
    proto(9, INT, CTX, ANY, RO, SZ, ANY, changes_pkt_data=True, program_types=TC_LWT | {P.SK_SKB}),
    proto(10, INT, CTX, ANY, ANY, ANY, ANY, changes_pkt_data=True, program_types=TC | {P.LWT_XMIT}),
    proto(11, INT, CTX, ANY, ANY, ANY, ANY, changes_pkt_data=True, program_types=TC | {P.LWT_XMIT}),
    proto(13, INT, CTX, ANY, ANY, changes_pkt_data=True, program_types=TC | {P.LWT_XMIT}),
    proto(17, INT, CTX, program_types=TC),
    proto(18, INT, CTX, ANY, ANY, changes_pkt_data=True, program_types=TC | {P.LWT_XMIT}),
    proto(19, INT, CTX, changes_pkt_data=True, program_types=TC | {P.LWT_XMIT}),
    proto(20, INT, CTX, UNINIT, SZ, ANY, program_types=TC | {P.LWT_XMIT}),
    proto(21, INT, CTX, RO, SZ, ANY, program_types=TC | {P.LWT_XMIT}),
    proto(24, INT, CTX, program_types=TC_LWT),
    proto(26, INT, CTX, ANY, UNINIT, SZ, program_types=SKB),
    proto(68, INT, CTX, ANY, UNINIT, SZ, ANY, program_types=SKB),
    proto(29, INT, CTX, UNINIT, SZ, program_types=TC | {P.LWT_XMIT}),
    proto(30, INT, CTX, RO, SZ, program_types=TC | {P.LWT_XMIT}),
    proto(31, INT, CTX, ANY, ANY, changes_pkt_data=True, program_types=TC),
    proto(32, INT, CTX, ANY, program_types=TC),
    proto(33, INT, CTX, MAP, ANY, map_types=frozenset({M.CGROUP_ARRAY}), program_types=TC),
    proto(34, INT, CTX, program_types=TC_LWT),
    proto(38, INT, CTX, ANY, ANY, changes_pkt_data=True, program_types=TC | {P.SK_SKB}),
    proto(39, INT, CTX, ANY, changes_pkt_data=True, program_types=TC_LWT | {P.SK_SKB}),
    proto(40, INT, CTX, ANY, program_types=TC),
    proto(41, INT, CTX, program_types=TC),
    proto(43, INT, CTX, ANY, ANY, changes_pkt_data=True, program_types=TC | {P.SK_SKB}),
    proto(48, INT, CTX, ANY, program_types=TC),
    proto(50, INT, CTX, ANY, ANY, ANY, changes_pkt_data=True, program_types=TC | {P.SK_SKB}),
    proto(66, INT, CTX, ANY, UNINIT, SZ, ANY, program_types=TC),
    proto(79, INT, CTX, program_types=TC | {P.CGROUP_SKB}),
    proto(83, INT, CTX, ANY, program_types=TC | {P.CGROUP_SKB}),
    proto(97, INT, CTX, program_types=frozenset({P.CGROUP_SKB})),
    proto(135, INT, CTX, ANY, program_types=TC),
    proto(151, INT, CTX, program_types=TC),
    proto(192, INT, CTX, ANY, ANY, program_types=TC),
    proto(28, INT, RO_NULL, SZ0, RO_NULL, SZ0, ANY, pkt_access=True),
    proto(46, INT, CTX),
    proto(47, INT, CTX, program_types=SKB),
    proto(122, INT, A.ARG_PTR_TO_CTX_OR_NULL),
    proto(163, INT, CTX, ANY, A.ARG_PTR_TO_INT, ANY, ANY, program_types=TC_XDP, gpl_only=True),
    proto(69, INT, CTX, MEM, SZ, ANY, program_types=TC_XDP, gpl_only=True),
    # --- xdp -------------------------------------------------------------------------------
    proto(44, INT, CTX, ANY, changes_pkt_data=True, program_types=XDP),
    proto(54, INT, CTX, ANY, changes_pkt_data=True, program_types=XDP),
    proto(65, INT, CTX, ANY, changes_pkt_data=True, program_types=XDP),
    proto(188, INT, CTX, program_types=XDP),
    proto(189, INT, CTX, ANY, UNINIT, SZ, program_types=XDP),
    proto(190, INT, CTX, ANY, RO, SZ, program_types=XDP),
    # --- redirects -------------------------------------------------------------------------
    proto(23, INT, ANY, ANY, program_types=TC_XDP | {P.LWT_XMIT}),
    proto(51, INT, MAP, ANY, ANY, map_types=G.REDIRECT_MAPS, program_types=XDP),
    proto(152, INT, ANY, RO_NULL, SZ0, ANY, program_types=TC),
    proto(155, INT, ANY, ANY, program_types=TC),
    # --- socket maps and sk_msg ------------------------------------------------------------
    proto(
        52,
        INT,
        CTX,
        MAP,
        ANY,
        ANY,
        map_types=frozenset({M.SOCKMAP}),
        program_types=frozenset({P.SK_SKB}),
    ),
    proto(
        72,
        INT,
        CTX,
        MAP,
        KEY,
        ANY,
        map_types=frozenset({M.SOCKHASH}),
        program_types=frozenset({P.SK_SKB}),
    ),
    proto(53, INT, CTX, MAP, KEY, ANY, map_types=frozenset({M.SOCKMAP}), program_types=SOCKOPS),
    proto(70, INT, CTX, MAP, KEY, ANY, map_types=frozenset({M.SOCKHASH}), program_types=SOCKOPS),
    proto(60, INT, CTX, MAP, ANY, ANY, map_types=frozenset({M.SOCKMAP}), program_types=SK_MSG),
    proto(71, INT, CTX, MAP, KEY, ANY, map_types=frozenset({M.SOCKHASH}), program_types=SK_MSG),
    proto(61, INT, CTX, ANY, program_types=SK_MSG),
    proto(62, INT, CTX, ANY, program_types=SK_MSG),
    proto(63, INT, CTX, ANY, ANY, ANY, changes_pkt_data=True, program_types=SK_MSG),
    proto(90, INT, CTX, ANY, ANY, ANY, changes_pkt_data=True, program_types=SK_MSG),
    proto(91, INT, CTX, ANY, ANY, ANY, changes_pkt_data=True, program_types=SK_MSG),
    proto(
        82,
        INT,
        CTX,
        MAP,
        KEY,
        ANY,
        map_types=frozenset({M.REUSEPORT_SOCKARRAY, M.SOCKMAP, M.SOCKHASH}),
        program_types=frozenset({P.SK_REUSEPORT}),
    ),
    # --- socket lookups and casts ----------------------------------------------------------
    proto(
        84,
        R.RET_PTR_TO_SOCKET_OR_NULL,
        CTX,
        RO,
        SZ,
        ANY,
        ANY,
        pkt_access=True,
        acquires=True,
        program_types=LOOKUP_TYPES,
    ),
    proto(
        85,
        R.RET_PTR_TO_SOCKET_OR_NULL,
        CTX,
        RO,
        SZ,
        ANY,
        ANY,
        pkt_access=True,
        acquires=True,
        program_types=LOOKUP_TYPES,
    ),
    proto(
        99,
        R.RET_PTR_TO_SOCK_COMMON_OR_NULL,
        CTX,
        RO,
        SZ,
        ANY,
        ANY,
        pkt_access=True,
        acquires=True,
        program_types=LOOKUP_TYPES,
    ),
    proto(86, INT, A.ARG_PTR_TO_RELEASE_SOCK_COMMON),
    proto(95, R.RET_PTR_TO_SOCKET_OR_NULL, SOCK_COMMON),
    proto(96, R.RET_PTR_TO_TCP_SOCK_OR_NULL, SOCK_COMMON),
    proto(98, R.RET_PTR_TO_SOCKET_OR_NULL, SOCK_COMMON),
    proto(100, INT, SKC, RO, SZ, RO, SZ, pkt_access=True, program_types=TC_XDP),
    proto(110, INT, SKC, RO, SZ, RO, SZ, pkt_access=True, program_types=TC_XDP),
    proto(
        124,
        INT,
        CTX,
        A.ARG_PTR_TO_BTF_ID_SOCK_COMMON_OR_NULL,
        ANY,
        program_types=TC | {P.SK_LOOKUP},
    ),
    proto(128, INT, SKC),
    proto(129, INT, SKC, ANY),
    proto(136, R.RET_PTR_TO_BTF_ID_OR_NULL, SKC, ret_btf_type="tcp6_sock"),
    proto(137, R.RET_PTR_TO_BTF_ID_OR_NULL, SKC, ret_btf_type="tcp_sock"),
    proto(138, R.RET_PTR_TO_BTF_ID_OR_NULL, SKC, ret_btf_type="tcp_timewait_sock"),
    proto(139, R.RET_PTR_TO_BTF_ID_OR_NULL, SKC, ret_btf_type="tcp_request_sock"),
    proto(140, R.RET_PTR_TO_BTF_ID_OR_NULL, SKC, ret_btf_type="udp6_sock"),
    proto(178, R.RET_PTR_TO_BTF_ID_OR_NULL, SKC, ret_btf_type="unix_sock"),
    proto(196, R.RET_PTR_TO_BTF_ID_OR_NULL, SKC, ret_btf_type="mptcp_sock"),
    proto(
        116,
        INT,
        BTF,
        ANY,
        arg_btf_types=((0, "tcp_sock"),),
        program_types=frozenset({P.STRUCT_OPS}),
    ),
    proto(
        107,
        R.RET_PTR_TO_MAP_VALUE_OR_NULL,
        MAP,
        SKC,
        A.ARG_PTR_TO_MAP_VALUE_OR_NULL,
        ANY,
        map_types=frozenset({M.SK_STORAGE}),
    ),
    proto(108, INT, MAP, SKC, map_types=frozenset({M.SK_STORAGE})),
    # iphdr is 20 bytes, ipv6hdr 40, tcphdr 20
    proto(
        204,
        INT,
        FIXED,
        RO,
        SZ0,
        arg_sizes=((0, 20),),
        pkt_access=True,
        program_types=TC_XDP,
        gpl_only=True,
    ),
    proto(
        205,
        INT,
        FIXED,
        RO,
        SZ0,
        arg_sizes=((0, 40),),
        pkt_access=True,
        program_types=TC_XDP,
        gpl_only=True,
    ),
    proto(
        206,
        INT,
        FIXED,
        FIXED,
        arg_sizes=((0, 20), (1, 20)),
        pkt_access=True,
        program_types=TC_XDP,
        gpl_only=True,
    ),
    proto(
        207,
        INT,
        FIXED,
        FIXED,
        arg_sizes=((0, 40), (1, 20)),
        pkt_access=True,
        program_types=TC_XDP,
        gpl_only=True,
    ),
    # --- cgroup socket hooks, sock_ops -----------------------------------------------------
    proto(49, INT, CTX, ANY, ANY, RO, SZ, program_types=G.CGROUP_SOCK_HOOKS),
    proto(57, INT, CTX, ANY, ANY, UNINIT, SZ, program_types=G.CGROUP_SOCK_HOOKS),
    proto(64, INT, CTX, RO, SZ, program_types=frozenset({P.CGROUP_SOCK_ADDR})),
    proto(59, INT, CTX, ANY, program_types=SOCKOPS),
    proto(142, INT, CTX, MEM, SZ, ANY, program_types=SOCKOPS),
    proto(143, INT, CTX, RO, SZ, ANY, changes_pkt_data=True, program_types=SOCKOPS),
    proto(144, INT, CTX, ANY, ANY, program_types=SOCKOPS),
    # --- sysctl ----------------------------------------------------------------------------
    proto(101, INT, CTX, MEM, SZ, ANY, program_types=SYSCTL),
    proto(102, INT, CTX, UNINIT, SZ, program_types=SYSCTL),
    proto(103, INT, CTX, UNINIT, SZ, program_types=SYSCTL),
    proto(104, INT, CTX, RO, SZ, program_types=SYSCTL),
    # --- lwt -------------------------------------------------------------------------------
    proto(
        73,
        INT,
        CTX,
        ANY,
        RO,
        SZ,
        changes_pkt_data=True,
        program_types=frozenset({P.LWT_IN, P.LWT_XMIT}),
    ),
    proto(74, INT, CTX, ANY, RO, SZ, changes_pkt_data=True, program_types=SEG6),
    proto(75, INT, CTX, ANY, ANY, changes_pkt_data=True, program_types=SEG6),
    proto(76, INT, CTX, ANY, RO, SZ, changes_pkt_data=True, program_types=SEG6),
    # --- infrared (lirc) -------------------------------------------------------------------
    proto(77, INT, CTX, program_types=LIRC),
    proto(78, INT, CTX, ANY, ANY, ANY, program_types=LIRC),
    proto(92, INT, CTX, ANY, ANY, program_types=LIRC),
)


# Tracing and LSM programs get other prototypes for a few helpers (tracing_prog_func_proto):
# bpf_get_socket_cookie takes any kernel socket there (bpf_get_socket_ptr_cookie_proto).
TRACING_ARGS: dict[int, tuple[A, ...]] = {46: (A.ARG_PTR_TO_BTF_ID_SOCK_COMMON,)}
