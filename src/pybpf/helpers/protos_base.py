"""Prototypes of the generic, map, ring buffer, time, task and tracing helpers (from the kernel's uapi docs)."""

from __future__ import annotations

from typing import Any

from pybpf.abi import MapType as M
from pybpf.abi import ProgramType as P
from pybpf.helpers import groups as G
from pybpf.helpers.ids import HELPER_NAMES
from pybpf.helpers.types import ArgType as A
from pybpf.helpers.types import Callback, HelperProto
from pybpf.helpers.types import RetType as R

ANY = A.ARG_ANYTHING
MAP = A.ARG_CONST_MAP_PTR
KEY = A.ARG_PTR_TO_MAP_KEY
VAL = A.ARG_PTR_TO_MAP_VALUE
CTX = A.ARG_PTR_TO_CTX
MEM = A.ARG_PTR_TO_MEM
RO = A.ARG_PTR_TO_MEM_RDONLY
RO_NULL = A.ARG_PTR_TO_MEM_RDONLY_OR_NULL
UNINIT = A.ARG_PTR_TO_UNINIT_MEM
SZ = A.ARG_CONST_SIZE
SZ0 = A.ARG_CONST_SIZE_OR_ZERO
BTF = A.ARG_PTR_TO_BTF_ID
BTF_NULL = A.ARG_PTR_TO_BTF_ID_OR_NULL
FUNC = A.ARG_PTR_TO_FUNC
STACK_NULL = A.ARG_PTR_TO_STACK_OR_NULL
LONG = A.ARG_PTR_TO_LONG
TIMER = A.ARG_PTR_TO_TIMER
DYNPTR = A.ARG_PTR_TO_DYNPTR

RINGBUF = frozenset({M.RINGBUF})
PERF_ARRAY = frozenset({M.PERF_EVENT_ARRAY})
STACKY = G.TRACING  # the tracing program types: stack and perf output helpers


def proto(helper_id: int, ret: R, *args: A, **kw: Any) -> HelperProto:
    """A HelperProto named from the id table."""
    return HelperProto(id=helper_id, name=HELPER_NAMES[helper_id], ret=ret, args=tuple(args), **kw)


INT, V = R.RET_INTEGER, R.RET_VOID

BASE_PROTOS: tuple[HelperProto, ...] = (
    # --- maps ------------------------------------------------------------------------------
    proto(1, R.RET_PTR_TO_MAP_VALUE_OR_NULL, MAP, KEY, pkt_access=True),
    proto(2, INT, MAP, KEY, VAL, ANY, pkt_access=True),
    proto(3, INT, MAP, KEY, pkt_access=True),
    proto(87, INT, MAP, VAL, ANY, pkt_access=True, map_types=G.QUEUE_STACK | {M.BLOOM_FILTER}),
    proto(88, INT, MAP, A.ARG_PTR_TO_UNINIT_MAP_VALUE, map_types=G.QUEUE_STACK),
    proto(89, INT, MAP, A.ARG_PTR_TO_UNINIT_MAP_VALUE, map_types=G.QUEUE_STACK | {M.BLOOM_FILTER}),
    proto(195, R.RET_PTR_TO_MAP_VALUE_OR_NULL, MAP, KEY, ANY, pkt_access=True, map_types=G.PERCPU),
    proto(
        81,
        R.RET_PTR_TO_MAP_VALUE,
        MAP,
        ANY,
        map_types=frozenset({M.CGROUP_STORAGE, M.PERCPU_CGROUP_STORAGE}),
    ),
    proto(
        164,
        INT,
        MAP,
        FUNC,
        STACK_NULL,
        ANY,
        map_types=G.FOR_EACH,
        callback=Callback(arg=1, nargs=4, ctx_arg=2),
    ),
    proto(12, V, CTX, MAP, ANY, map_types=frozenset({M.PROG_ARRAY})),  # r0 unreadable after it
    # --- ring buffer ---------------------------------------------------------------------
    proto(130, INT, MAP, RO, SZ0, ANY, map_types=RINGBUF),
    proto(
        131,
        R.RET_PTR_TO_RINGBUF_MEM_OR_NULL,
        MAP,
        A.ARG_CONST_ALLOC_SIZE_OR_ZERO,
        ANY,
        map_types=RINGBUF,
        acquires=True,
        ret_size_arg=1,
    ),
    proto(132, V, A.ARG_PTR_TO_RINGBUF_MEM, ANY),
    proto(133, V, A.ARG_PTR_TO_RINGBUF_MEM, ANY),
    proto(134, INT, MAP, ANY, map_types=RINGBUF),
    proto(198, INT, MAP, ANY, ANY, A.ARG_PTR_TO_DYNPTR_UNINIT, map_types=RINGBUF, acquires=True),
    proto(199, V, A.ARG_PTR_TO_RELEASE_DYNPTR, ANY),
    proto(200, V, A.ARG_PTR_TO_RELEASE_DYNPTR, ANY),
    proto(
        209,
        INT,
        MAP,
        FUNC,
        STACK_NULL,
        ANY,
        map_types=frozenset({M.USER_RINGBUF}),
        callback=Callback(arg=1, nargs=2, ctx_arg=2),
    ),
    # --- perf event output / reads -------------------------------------------------------
    proto(25, INT, CTX, MAP, ANY, RO, SZ0, map_types=PERF_ARRAY, gpl_only=True),
    proto(22, INT, MAP, ANY, map_types=PERF_ARRAY, gpl_only=True, program_types=STACKY),
    proto(55, INT, MAP, ANY, UNINIT, SZ, map_types=PERF_ARRAY, gpl_only=True, program_types=STACKY),
    proto(56, INT, CTX, UNINIT, SZ, program_types=frozenset({P.PERF_EVENT}), gpl_only=True),
    proto(111, INT, BTF, MAP, ANY, RO, SZ0, map_types=PERF_ARRAY, arg_btf_types=((0, "sk_buff"),)),
    proto(121, INT, BTF, MAP, ANY, RO, SZ0, map_types=PERF_ARRAY, arg_btf_types=((0, "xdp_buff"),)),
    # --- time, random, cpu ---------------------------------------------------------------
    proto(5, INT),
    proto(125, INT),
    proto(160, INT),
    proto(208, INT),
    proto(118, INT),
    proto(7, INT),
    proto(8, INT),
    proto(42, INT),
    # --- current task --------------------------------------------------------------------
    proto(14, INT),
    proto(15, INT),
    proto(16, INT, UNINIT, SZ),
    proto(35, INT, gpl_only=True),
    proto(158, R.RET_PTR_TO_BTF_ID, gpl_only=True, ret_btf_type="task_struct"),
    proto(80, INT),
    proto(123, INT, ANY),
    proto(120, INT, ANY, ANY, UNINIT, SZ),
    proto(109, INT, ANY, program_types=STACKY),
    proto(117, INT, ANY, program_types=STACKY),
    proto(37, INT, MAP, ANY, map_types=frozenset({M.CGROUP_ARRAY})),
    # --- printing and strings ------------------------------------------------------------
    proto(6, INT, RO, SZ, gpl_only=True),
    proto(177, INT, RO, SZ, RO_NULL, SZ0, gpl_only=True),
    proto(
        165, INT, A.ARG_PTR_TO_MEM_OR_NULL, SZ0, A.ARG_PTR_TO_CONST_STR, RO_NULL, SZ0, gpl_only=True
    ),
    proto(105, INT, RO, SZ, ANY, LONG),
    proto(106, INT, RO, SZ, ANY, LONG),
    proto(182, INT, RO, SZ, A.ARG_PTR_TO_CONST_STR),
    proto(
        126,
        INT,
        BTF,
        RO,
        SZ,
        RO_NULL,
        SZ0,
        arg_btf_types=((0, "seq_file"),),
        program_types=frozenset({P.TRACING}),
    ),
    proto(
        127,
        INT,
        BTF,
        RO,
        SZ0,
        arg_btf_types=((0, "seq_file"),),
        program_types=frozenset({P.TRACING}),
    ),
    proto(149, INT, MEM, SZ, RO, SZ, ANY),
    proto(
        150,
        INT,
        BTF,
        RO,
        SZ0,
        ANY,
        arg_btf_types=((0, "seq_file"),),
        program_types=frozenset({P.TRACING}),
    ),
    # --- memory probes -------------------------------------------------------------------
    proto(4, INT, UNINIT, SZ0, ANY, gpl_only=True, program_types=STACKY),
    proto(45, INT, UNINIT, SZ0, ANY, gpl_only=True, program_types=STACKY),
    proto(112, INT, UNINIT, SZ0, ANY, gpl_only=True),
    proto(113, INT, UNINIT, SZ0, ANY, gpl_only=True),
    proto(114, INT, UNINIT, SZ0, ANY, gpl_only=True),
    proto(115, INT, UNINIT, SZ0, ANY, gpl_only=True),
    proto(36, INT, ANY, RO, SZ, gpl_only=True, program_types=STACKY),
    proto(148, INT, UNINIT, SZ0, ANY, sleepable_only=True),
    proto(
        191,
        INT,
        UNINIT,
        SZ0,
        ANY,
        BTF,
        ANY,
        gpl_only=True,
        sleepable_only=True,
        arg_btf_types=((3, "task_struct"),),
    ),
    # --- stacks --------------------------------------------------------------------------
    proto(
        27,
        INT,
        CTX,
        MAP,
        ANY,
        gpl_only=True,
        map_types=frozenset({M.STACK_TRACE}),
        program_types=STACKY,
    ),
    proto(67, INT, CTX, UNINIT, SZ0, ANY, gpl_only=True, program_types=STACKY),
    proto(
        141, INT, BTF, UNINIT, SZ0, ANY, arg_btf_types=((0, "task_struct"),), program_types=STACKY
    ),
    proto(176, INT, UNINIT, SZ0, ANY, program_types=STACKY, gpl_only=True),
    proto(
        119,
        INT,
        CTX,
        A.ARG_PTR_TO_MEM_OR_NULL,
        SZ0,
        ANY,
        program_types=frozenset({P.PERF_EVENT}),
        gpl_only=True,
    ),
    # --- tracing-only context helpers ----------------------------------------------------
    proto(58, INT, CTX, ANY, gpl_only=True, program_types=frozenset({P.KPROBE, P.TRACING})),
    proto(173, INT, CTX, gpl_only=True, program_types=frozenset({P.KPROBE, P.TRACING})),
    proto(174, INT, CTX, program_types=STACKY | {P.CGROUP_SOCK, P.CGROUP_SOCK_ADDR, P.SOCK_OPS}),
    proto(183, INT, CTX, ANY, LONG, program_types=frozenset({P.TRACING, P.LSM})),
    proto(184, INT, CTX, LONG, program_types=frozenset({P.TRACING, P.LSM})),
    proto(185, INT, CTX, program_types=frozenset({P.TRACING, P.LSM})),
    proto(
        175, R.RET_PTR_TO_BTF_ID, BTF, ret_btf_type="pt_regs", arg_btf_types=((0, "task_struct"),)
    ),
    proto(
        180,
        INT,
        BTF,
        ANY,
        FUNC,
        STACK_NULL,
        ANY,
        arg_btf_types=((0, "task_struct"),),
        callback=Callback(arg=2, nargs=3, ctx_arg=3),
    ),
    proto(
        147,
        INT,
        BTF,
        MEM,
        SZ0,
        arg_btf_types=((0, "path"),),
        program_types=frozenset({P.TRACING, P.LSM}),
    ),
    proto(
        162, R.RET_PTR_TO_BTF_ID_OR_NULL, BTF, ret_btf_type="socket", arg_btf_types=((0, "file"),)
    ),
    proto(
        159, INT, BTF, ANY, arg_btf_types=((0, "linux_binprm"),), program_types=frozenset({P.LSM})
    ),
    proto(
        161,
        INT,
        BTF,
        UNINIT,
        SZ,
        sleepable_only=True,
        arg_btf_types=((0, "inode"),),
        program_types=frozenset({P.LSM}),
    ),
    proto(
        193,
        INT,
        BTF,
        UNINIT,
        SZ,
        sleepable_only=True,
        arg_btf_types=((0, "file"),),
        program_types=frozenset({P.LSM}),
    ),
    proto(179, INT, RO, SZ0, ANY, LONG, program_types=frozenset({P.SYSCALL})),
    proto(166, INT, ANY, RO, SZ, program_types=frozenset({P.SYSCALL})),
    proto(167, INT, RO, SZ, ANY, ANY, program_types=frozenset({P.SYSCALL})),
    proto(168, INT, ANY, program_types=frozenset({P.SYSCALL})),
    proto(
        186,
        INT,
        program_types=frozenset({P.CGROUP_SOCKOPT, P.CGROUP_SOCK, P.CGROUP_SOCK_ADDR, P.LSM}),
    ),
    proto(
        187,
        INT,
        ANY,
        program_types=frozenset({P.CGROUP_SOCKOPT, P.CGROUP_SOCK, P.CGROUP_SOCK_ADDR, P.LSM}),
    ),
    # --- loops, locks, timers, per-cpu, kptrs, dynptrs -----------------------------------
    proto(181, INT, ANY, FUNC, STACK_NULL, ANY, callback=Callback(arg=1, nargs=2, ctx_arg=2)),
    proto(93, V, A.ARG_PTR_TO_SPIN_LOCK, privileged_only=True),
    proto(94, V, A.ARG_PTR_TO_SPIN_LOCK, privileged_only=True),
    proto(169, INT, TIMER, MAP, ANY, gpl_only=True, privileged_only=True),
    proto(
        170,
        INT,
        TIMER,
        FUNC,
        gpl_only=True,
        privileged_only=True,
        callback=Callback(arg=1, nargs=3, ret_min=0, ret_max=0),
    ),
    proto(171, INT, TIMER, ANY, ANY, gpl_only=True, privileged_only=True),
    proto(172, INT, TIMER, gpl_only=True, privileged_only=True),
    proto(
        153,
        R.RET_PTR_TO_MEM_OR_BTF_ID_OR_NULL,
        A.ARG_PTR_TO_PERCPU_BTF_ID,
        ANY,
        privileged_only=True,
    ),
    proto(154, R.RET_PTR_TO_MEM_OR_BTF_ID, A.ARG_PTR_TO_PERCPU_BTF_ID, privileged_only=True),
    proto(
        194,
        R.RET_PTR_TO_BTF_ID_OR_NULL,
        A.ARG_PTR_TO_KPTR,
        A.ARG_PTR_TO_RELEASE_BTF_ID_OR_NULL,
        acquires=True,
        privileged_only=True,
    ),
    proto(197, INT, UNINIT, SZ0, ANY, A.ARG_PTR_TO_DYNPTR_UNINIT, privileged_only=True),
    proto(201, INT, UNINIT, SZ0, DYNPTR, ANY, ANY, privileged_only=True),
    proto(202, INT, DYNPTR, ANY, RO, SZ0, ANY, privileged_only=True),
    proto(
        203,
        R.RET_PTR_TO_DYNPTR_MEM_OR_NULL,
        DYNPTR,
        ANY,
        A.ARG_CONST_ALLOC_SIZE_OR_ZERO,
        ret_size_arg=2,
        privileged_only=True,
    ),
    # --- local storage -------------------------------------------------------------------
    proto(
        156,
        R.RET_PTR_TO_MAP_VALUE_OR_NULL,
        MAP,
        BTF_NULL,
        A.ARG_PTR_TO_MAP_VALUE_OR_NULL,
        ANY,
        map_types=frozenset({M.TASK_STORAGE}),
        arg_btf_types=((1, "task_struct"),),
    ),
    proto(
        157,
        INT,
        MAP,
        BTF_NULL,
        map_types=frozenset({M.TASK_STORAGE}),
        arg_btf_types=((1, "task_struct"),),
    ),
    proto(
        145,
        R.RET_PTR_TO_MAP_VALUE_OR_NULL,
        MAP,
        BTF_NULL,
        A.ARG_PTR_TO_MAP_VALUE_OR_NULL,
        ANY,
        map_types=frozenset({M.INODE_STORAGE}),
        arg_btf_types=((1, "inode"),),
        program_types=frozenset({P.LSM}),
    ),
    proto(
        146,
        INT,
        MAP,
        BTF_NULL,
        map_types=frozenset({M.INODE_STORAGE}),
        arg_btf_types=((1, "inode"),),
        program_types=frozenset({P.LSM}),
    ),
    proto(
        210,
        R.RET_PTR_TO_MAP_VALUE_OR_NULL,
        MAP,
        BTF_NULL,
        A.ARG_PTR_TO_MAP_VALUE_OR_NULL,
        ANY,
        map_types=frozenset({M.CGRP_STORAGE}),
        arg_btf_types=((1, "cgroup"),),
    ),
    proto(
        211,
        INT,
        MAP,
        BTF_NULL,
        map_types=frozenset({M.CGRP_STORAGE}),
        arg_btf_types=((1, "cgroup"),),
    ),
)
