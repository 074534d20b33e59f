"""Build, for a helper, a program whose arguments are valid for pybpf's prototype, and load it.

If the kernel refuses such a program because of an argument ("R2 type=... expected=...", "invalid
indirect read", ...) the catalogue's prototype disagrees with the kernel's.
"""

from __future__ import annotations

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.kprobe_util import close, insn, prog_load  # noqa: E402
from maps.kmap import KernelMap  # noqa: E402
from pybpf.abi import MapType, ProgramType  # noqa: E402
from pybpf.helpers import ArgType as A  # noqa: E402
from pybpf.helpers import HelperProto  # noqa: E402

# map type -> (key_size, value_size, max_entries, flags) for a map the helper can take
MAP_SHAPES: dict[MapType, tuple[int, int, int, int]] = {
    MapType.HASH: (4, 8, 4, 0), MapType.ARRAY: (4, 8, 4, 0), MapType.PERCPU_HASH: (4, 8, 4, 0),
    MapType.PERCPU_ARRAY: (4, 8, 4, 0), MapType.LRU_PERCPU_HASH: (4, 8, 4, 0), MapType.QUEUE: (0, 8, 4, 0),
    MapType.STACK: (0, 8, 4, 0), MapType.RINGBUF: (0, 0, 4096, 0), MapType.PERF_EVENT_ARRAY: (4, 4, 2, 0),
    MapType.PROG_ARRAY: (4, 4, 2, 0), MapType.STACK_TRACE: (4, 64, 4, 0), MapType.CGROUP_ARRAY: (4, 4, 2, 0),
    MapType.DEVMAP: (4, 4, 2, 0), MapType.SOCKMAP: (4, 4, 2, 0), MapType.SOCKHASH: (4, 4, 2, 0),
    MapType.REUSEPORT_SOCKARRAY: (4, 4, 2, 0), MapType.USER_RINGBUF: (0, 0, 4096, 0),
    MapType.BLOOM_FILTER: (0, 8, 4, 0),
}  # fmt: skip

SIMPLE = {
    A.ARG_ANYTHING, A.ARG_CONST_MAP_PTR, A.ARG_PTR_TO_MAP_KEY, A.ARG_PTR_TO_MAP_VALUE,
    A.ARG_PTR_TO_UNINIT_MAP_VALUE, A.ARG_PTR_TO_MAP_VALUE_OR_NULL, A.ARG_PTR_TO_MEM, A.ARG_PTR_TO_MEM_RDONLY,
    A.ARG_PTR_TO_MEM_OR_NULL, A.ARG_PTR_TO_MEM_RDONLY_OR_NULL, A.ARG_PTR_TO_UNINIT_MEM, A.ARG_CONST_SIZE,
    A.ARG_CONST_SIZE_OR_ZERO, A.ARG_CONST_ALLOC_SIZE_OR_ZERO, A.ARG_PTR_TO_CTX, A.ARG_PTR_TO_CTX_OR_NULL,
    A.ARG_PTR_TO_STACK, A.ARG_PTR_TO_STACK_OR_NULL, A.ARG_PTR_TO_LONG, A.ARG_PTR_TO_INT,
    A.ARG_PTR_TO_CONST_STR, A.ARG_PTR_TO_FIXED_SIZE_MEM,
}  # fmt: skip

# program type -> offsets of the data and data_end fields in its context
PACKET_FIELDS = {
    ProgramType.XDP: (0, 4),
    ProgramType.SCHED_CLS: (76, 80),
    ProgramType.SCHED_ACT: (76, 80),
}

ARG_ERRORS = ("expected=", "invalid indirect", "invalid zero-sized", "cannot pass map_type", "invalid read from stack",
              "R1 ", "R2 ", "R3 ", "R4 ", "R5 ")  # fmt: skip


def lddw(dst: int, imm: int, src: int = 0, imm2: int = 0) -> bytes:
    return insn(0x18, dst, src, 0, imm) + insn(0, imm=imm2)


def probe(
    proto: HelperProto,
    program_type: ProgramType,
    opts: dict[str, int],
    *,
    rdonly: bool = False,
    deref_r0: bool = False,
    map_type: MapType | None = None,
    packet_arg: int | None = None,
    packet_after: bool = False,
    license: bytes = b"GPL",
) -> tuple[bool, str] | None:
    """(accepted, last log line) for a call with arguments valid per `proto`; None when not testable.

    With `rdonly`, arguments the prototype calls read-only point into a frozen read-only map
    value (the kernel must accept that); None when the prototype has no such argument. With
    `deref_r0` the program reads a byte through r0 after the call, so the kernel names r0's type.
    `map_type` chooses the map passed as the ARG_CONST_MAP_PTR argument. With `packet_arg`, that
    argument points into the packet (after a bounds check) instead of the stack; with
    `packet_after` the program reads the packet through a pointer checked before the call.
    """
    if packet_after:
        packet_arg = -1
    if rdonly and not any(a.readonly for a in proto.args):
        return None
    if not proto.known or proto.callback or any(a not in SIMPLE for a in proto.args):
        return None
    if (proto.acquires or proto.ret_size_arg is not None) and not deref_r0 or proto.sleepable_only:
        return (
            None  # the reference would have to be released (unless the program fails on r0 first)
        )
    if packet_arg is not None and program_type not in PACKET_FIELDS:
        return None
    maps: list[KernelMap] = []
    try:
        code = insn(0xBF, 6, 1)  # r6 = ctx
        # each argument gets its own 48-byte stack area at r10 - 256 + 48 * i; only the areas of
        # arguments the prototype says must be initialised are zeroed, so a prototype that claims
        # "uninit is fine" where the kernel needs initialised memory is refused by the kernel
        for i, arg in enumerate(proto.args):
            if not arg.uninit:
                for off in range(0, 48, 8):
                    code += insn(0x7A, 10, 0, -256 + 48 * i + off, 0)  # *(u64 *)(r10 + o) = 0
        for i, arg in enumerate(proto.args):
            reg = i + 1
            area = -256 + 48 * i
            if arg is A.ARG_ANYTHING:
                code += insn(0xB7, reg, 0, 0, 0)
            elif arg is A.ARG_CONST_MAP_PTR:
                types = (
                    [map_type]
                    if map_type is not None
                    else sorted(proto.map_types or {MapType.HASH})
                )
                shape = next((MAP_SHAPES[t] for t in types if t in MAP_SHAPES), None)
                if shape is None:
                    return None
                mtype = next(t for t in types if t in MAP_SHAPES)
                m = KernelMap(mtype, *shape)
                maps.append(m)
                if m.fd < 0:
                    return None
                code += lddw(reg, m.fd, src=1)
            elif arg.is_size:
                code += insn(0xB7, reg, 0, 0, 8)
            elif arg in (A.ARG_PTR_TO_CTX, A.ARG_PTR_TO_CTX_OR_NULL):
                code += insn(0xBF, reg, 6)
            elif arg is A.ARG_PTR_TO_CONST_STR or (rdonly and arg.readonly):
                ro = KernelMap(MapType.ARRAY, 4, 64, 1, flags=1 << 7)
                maps.append(ro)
                ro.update(struct.pack("<I", 0), b"abc".ljust(64, b"\0"))
                ro.freeze()
                code += lddw(reg, ro.fd, src=2, imm2=0)
            elif i == packet_arg:
                code += insn(0xBF, reg, 7)  # a pointer into the (checked) packet
            else:  # every other simple kind points into its own stack area
                code += insn(0xBF, reg, 10) + insn(0x07, reg, 0, 0, area)
        code += insn(0x85, imm=proto.id)
        if deref_r0:
            code += insn(0x71, 0, 0, 0, 0)  # r0 = *(u8 *)(r0 + 0)
        if packet_after:
            code += insn(0x71, 0, 7, 0, 0)  # r0 = *(u8 *)(r7 + 0): still valid after the call?
        if packet_arg is not None:  # r7 = data, r8 = data_end; exit unless 64 bytes are there
            data_off, end_off = PACKET_FIELDS[program_type]
            body = code[8:]
            code = code[:8] + insn(0x61, 7, 1, data_off) + insn(0x61, 8, 1, end_off)
            code += insn(0xBF, 9, 7) + insn(0x07, 9, 0, 0, 64) + insn(0x2D, 9, 8, len(body) // 8)
            code += body
        code += insn(0xB7, 0) + insn(0x95)
        fd, err, log = prog_load(
            program_type, code, expected_attach_type=opts.get("expected_attach_type", 0),
            attach_btf_id=opts.get("attach_btf_id", 0), prog_flags=opts.get("prog_flags", 0),
            license=license,
        )  # fmt: skip
        close(fd)
        lines = [line for line in log.splitlines() if line and not line.startswith("processed")]
        return fd >= 0, (lines[-1] if lines else f"errno {err}")
    finally:
        for m in maps:
            m.close()


def is_argument_error(message: str) -> bool:
    return any(marker in message for marker in ARG_ERRORS)
