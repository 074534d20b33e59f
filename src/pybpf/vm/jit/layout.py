"""The native run context shared by JIT-compiled code and Python: field slots and fault codes.

Compiled programs receive a pointer to a `JitContext` (an array of u64 slots) and read
everything they need at run time from it: the region table used by bounds checks, the
instruction budget, the callbacks into Python, the packet for legacy loads and the relocation
table (map pointers, global data addresses) so compiled code does not depend on the addresses
of one load and can be cached by program hash.
"""

from __future__ import annotations

import ctypes
from enum import IntEnum


class Slot(IntEnum):
    """Index of each u64 slot of the JitContext."""

    REGIONS = 0  # pointer to the region table: MAX_REGIONS x (start, end, flags)
    NREGIONS = 1  # entries in use
    BUDGET = 2  # instructions the program may still execute (signed)
    FAULT = 3  # non-zero once the run faulted (a FaultCode)
    FAULT_PC = 4  # the slot pc the fault happened at
    FAULT_AUX = 5  # fault detail (budget: instructions left when the block was entered)
    HELPER = 6  # address of the helper trampoline (Python callback)
    RESOLVE = 7  # address of the slow-path region resolver (Python callback)
    STACK_TOP = 8  # r10 of frame 0
    PKT_DATA = 9  # packet start for legacy ld_abs/ld_ind
    PKT_LEN = 10  # packet length for legacy loads
    TAILCALL = 11  # entry of the tail-call target a helper chose (0: none)
    RELOCS = 12  # pointer to the relocation table (one u64 per lddw reference)
    TAIL_RET = 13  # reserved
    PRANDOM = 14  # xorshift state of the native bpf_get_prandom_u32
    CPU = 15  # bpf_get_smp_processor_id
    KTIME_BASE = 16  # reserved
    HELPER_PC = 17  # pc of the helper call in progress (for faults raised by Python helpers)
    CALLX = 18  # reserved
    SCRATCH = 19  # scratch for batch runners
    TAIL_JCTX = 20  # JitContext of the tail-call target (set with TAILCALL)
    HELPER_DEPTH = 21  # call depth of the helper call in progress
    CTX_START = 22  # address of the converted context struct (xdp_md, __sk_buff); 0: none
    CTX_LEN = 23  # its size
    CTX_DATA = 24  # what ctx->data reads (a full pointer)
    CTX_DATA_END = 25  # what ctx->data_end reads
    CTX_DATA_META = 26  # what ctx->data_meta reads
    CTX_CB = 27  # address of the context-access callback (Python)
    BUDGET_INIT = 28  # what bpf_run / the batch loop reset BUDGET to
    NREGIONS_INIT = 29  # what they reset NREGIONS to
    BATCH_DATA = 30  # batch loop: where each packet is copied (the XDP data pointer)
    BATCH_INDEX = 31  # batch loop: index of the packet running now
    BOUND_R1 = 32  # r1 of a pre-bound run
    BOUND_R2 = 33  # r2 of a pre-bound run
    ENTRY_FN = 34  # bpf_entry, called opaquely by bpf_repeat (so LLVM cannot fold the loop)
    HIT_START = 35  # the region the last slow-path check found (start, end, flags)
    HIT_END = 36
    HIT_FLAGS = 37
    MAPDESC_BASE = 38  # the collection's native map descriptors (MapDesc, DESC_SIZE bytes each)
    MAPDESC_LEN = 39  # their total size in bytes
    PRANDOM_NATIVE = 40  # 1: bpf_get_prandom_u32 runs natively (no seed asked for)
    XDP_HARD_START = 41  # start of the XDP frame of the bound context (0: none; native adjust_head)
    HELPER_FP = 42  # r10 of the frame making the helper call in progress


NSLOTS = 48
MAX_REGIONS = 64
REGION_WRITABLE = 1


class FaultCode(IntEnum):
    """Why a compiled program stopped early (FAULT slot)."""

    NONE = 0
    PYTHON = 1  # a Python callback raised; the exception is kept by the runner
    BUDGET = 2  # instruction budget exhausted at block entry (FAULT_AUX = budget left)
    CALL_DEPTH = 3  # more than MAX_CALL_FRAMES nested bpf-to-bpf calls in one program
    BAD_JUMP = 4  # control reached a pc outside the program or inside an lddw
    BAD_INSN = 5  # an undefined instruction was reached
    LD_ABS = 6  # a legacy packet load was out of bounds: the program returns 0
    BAD_CALLX = 7  # callx to something that is not a function
    EXIT = 8  # a helper ended the program at once (FAULT_AUX = r0)
    NO_PACKET = 9  # a legacy packet load ran without a packet


class JitContext(ctypes.Structure):
    """The native run context; `slots[Slot.X]` is what compiled code reads."""

    _fields_ = [("slots", ctypes.c_uint64 * NSLOTS)]


# Native map descriptors: a map pointer the JIT hands a program is the address of one of these,
# so native helpers can reach the map's storage (layouts in pybpf.maps.array / .hashtab).
DESC_SIZE = 128
DESC_WORDS = DESC_SIZE // 8
MAP_KIND_OTHER = 0  # helpers go through Python
MAP_KIND_ARRAY = 1
MAP_KIND_HASH = 2
MAP_KIND_RINGBUF = 3
MAP_KIND_HASH_EXT = 4  # a hash table with per-CPU values and/or LRU reference bits


class MapDesc(IntEnum):
    """u64 word index inside a map descriptor."""

    KIND = 0
    BASE = 1  # array: first element; hash: table block
    VALUE_SIZE = 2
    MAX_ENTRIES = 3
    ELEM_SIZE = 4  # array: round_up(value_size, 8); hash: entry_size
    KEY_SIZE = 5
    FLAGS = 6  # REGION_WRITABLE when programs may write values
    MASK = 7  # hash: n_buckets - 1
    BUCKETS_OFF = 8
    ENTRIES_OFF = 9
    KEY_OFF = 10
    VALUE_OFF = 11
    VALUE_BASE = 12  # hash ext: the run CPU's per-CPU value block (0: values in the entries)
    VALUE_ELEM = 13  # hash ext: bytes per slot in that block
    REF_BASE = 14  # hash ext: LRU reference bytes, one per slot (0: not an LRU map)


class RegionTable(ctypes.Structure):
    """MAX_REGIONS (start, end, flags) triples the native bounds check scans."""

    _fields_ = [("entries", ctypes.c_uint64 * (3 * MAX_REGIONS))]


# Python callbacks compiled code calls (all take the JitContext address first).
# helper(jctx, helper_id, r1..r5) -> r0
HELPER_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_uint64,
    ctypes.c_void_p,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
)
# resolve(jctx, address, size, write, pc) -> 1 if the access is allowed (region cached), else 0
RESOLVE_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_uint64,
    ctypes.c_void_p,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
)
# ctx_access(jctx, address, size, value, flags) -> loaded value; flags = pc << 8 | CTX_* bits
CTX_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_uint64,
    ctypes.c_void_p,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
)
CTX_STORE = 1
CTX_ATOMIC = 2

# Converted context fields per context kind: offset -> slot read by a 4-byte load.
CTX_POINTER_FIELDS: dict[str, dict[int, int]] = {
    "xdp": {0: Slot.CTX_DATA, 4: Slot.CTX_DATA_END, 8: Slot.CTX_DATA_META},
    "skb": {76: Slot.CTX_DATA, 80: Slot.CTX_DATA_END, 140: Slot.CTX_DATA},
}
# Byte ranges of the context a plain load must not read directly (left to Python).
CTX_SPECIAL_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "xdp": ((0, 12),),
    "skb": ((76, 84), (140, 152), (168, 176)),
}
