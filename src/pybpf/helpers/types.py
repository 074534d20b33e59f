"""The vocabulary of helper prototypes: RetType, ArgType (the kernel verifier's names) and HelperProto."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pybpf.abi import MapType, ProgramType


class RetType(IntEnum):
    """What a helper returns in r0 (enum bpf_return_type, with the type flags folded into the name)."""

    RET_INTEGER = 0  # a scalar
    RET_VOID = 1  # r0 is undefined after the call (the verifier marks it not readable)
    RET_PTR_TO_MAP_VALUE = 2  # never NULL (bpf_get_local_storage)
    RET_PTR_TO_MAP_VALUE_OR_NULL = 3  # map lookups
    RET_PTR_TO_SOCKET_OR_NULL = 4  # sk_lookup_tcp/udp, sk_fullsock (acquired when `acquires`)
    RET_PTR_TO_TCP_SOCK_OR_NULL = 5
    RET_PTR_TO_SOCK_COMMON_OR_NULL = 6
    RET_PTR_TO_RINGBUF_MEM_OR_NULL = (
        7  # RET_PTR_TO_MEM | MEM_RINGBUF | PTR_MAYBE_NULL; size = ret_size_arg
    )
    RET_PTR_TO_MEM_OR_NULL = 8  # generic sized memory or NULL; size = ret_size_arg
    RET_PTR_TO_DYNPTR_MEM_OR_NULL = 9  # bpf_dynptr_data; size = ret_size_arg
    RET_PTR_TO_BTF_ID = 10  # a kernel object of type ret_btf_type (trusted)
    RET_PTR_TO_BTF_ID_OR_NULL = 11
    RET_PTR_TO_MEM_OR_BTF_ID = 12  # this_cpu_ptr (read-only)
    RET_PTR_TO_MEM_OR_BTF_ID_OR_NULL = 13  # per_cpu_ptr (read-only)

    @property
    def nullable(self) -> bool:
        """The program must test r0 against NULL before dereferencing it."""
        return self.name.endswith("_OR_NULL")

    @property
    def is_pointer(self) -> bool:
        return self not in (RetType.RET_INTEGER, RetType.RET_VOID)


class ArgType(IntEnum):
    """What a helper argument must be (enum bpf_arg_type with MEM_RDONLY/MEM_UNINIT/PTR_MAYBE_NULL folded in).

    Memory arguments (ARG_PTR_TO_MEM*) are followed by their size argument (ARG_CONST_SIZE*),
    except the fixed-size ones (ARG_PTR_TO_LONG: 8 bytes, ARG_PTR_TO_INT: 4 bytes).
    """

    ARG_DONTCARE = 0  # unused argument
    ARG_ANYTHING = 1  # any initialised value (scalar or, for privileged programs, a pointer)
    ARG_CONST_MAP_PTR = 2  # a map pointer from lddw (map_types restricts which maps)
    ARG_PTR_TO_MAP_KEY = 3  # initialised memory of the map's key_size
    ARG_PTR_TO_MAP_VALUE = 4  # initialised memory of the map's value_size
    ARG_PTR_TO_UNINIT_MAP_VALUE = (
        5  # value_size bytes the helper fills (may be uninitialised stack)
    )
    ARG_PTR_TO_MAP_VALUE_OR_NULL = (
        6  # NULL or initialised value_size bytes (local storage init value)
    )
    ARG_PTR_TO_MEM = 7  # initialised memory the helper reads and may write; size in the next arg
    ARG_PTR_TO_MEM_RDONLY = 8  # ARG_PTR_TO_MEM | MEM_RDONLY: read only, read-only maps accepted
    ARG_PTR_TO_MEM_OR_NULL = 9  # ARG_PTR_TO_MEM | PTR_MAYBE_NULL
    ARG_PTR_TO_MEM_RDONLY_OR_NULL = 10  # ARG_PTR_TO_MEM | MEM_RDONLY | PTR_MAYBE_NULL
    ARG_PTR_TO_UNINIT_MEM = (
        11  # ARG_PTR_TO_MEM | MEM_UNINIT: the helper writes; stack may be uninit
    )
    ARG_CONST_SIZE = 12  # size of the previous memory arg, > 0, bounded
    ARG_CONST_SIZE_OR_ZERO = 13  # size of the previous memory arg, >= 0, bounded
    ARG_CONST_ALLOC_SIZE_OR_ZERO = 14  # size of the memory the helper returns (ringbuf_reserve)
    ARG_PTR_TO_CTX = 15  # the program's context pointer, unmodified
    ARG_PTR_TO_CTX_OR_NULL = 16
    ARG_PTR_TO_STACK = 17  # a pointer into the stack
    ARG_PTR_TO_STACK_OR_NULL = 18  # callback context of bpf_loop and friends
    ARG_PTR_TO_RINGBUF_MEM = 19  # memory from ringbuf_reserve (released by the call: OBJ_RELEASE)
    ARG_PTR_TO_FUNC = 20  # a callback: `ld_imm64` with BPF_PSEUDO_FUNC
    ARG_PTR_TO_CONST_STR = 21  # a NUL-terminated string in a read-only (frozen) map value
    ARG_PTR_TO_LONG = 22  # 8 aligned bytes the helper writes (uninit allowed)
    ARG_PTR_TO_INT = 23  # 4 aligned bytes the helper reads and writes (must be initialised)
    ARG_PTR_TO_SOCKET = 24
    ARG_PTR_TO_SOCKET_OR_NULL = 25
    ARG_PTR_TO_SOCK_COMMON = 26
    ARG_PTR_TO_BTF_ID_SOCK_COMMON = 27  # sock_common or any socket pointer (BTF or not)
    ARG_PTR_TO_BTF_ID_SOCK_COMMON_OR_NULL = 28
    ARG_PTR_TO_BTF_ID = 29  # a kernel object of type arg_btf_types[i]
    ARG_PTR_TO_BTF_ID_OR_NULL = 30
    ARG_PTR_TO_PERCPU_BTF_ID = 31  # a per-CPU kernel variable (ksym)
    ARG_PTR_TO_SPIN_LOCK = 32  # the struct bpf_spin_lock inside a map value
    ARG_PTR_TO_TIMER = 33  # the struct bpf_timer inside a map value
    ARG_PTR_TO_KPTR = 34  # a kptr field inside a map value
    ARG_PTR_TO_DYNPTR = 35  # initialised struct bpf_dynptr on the stack
    ARG_PTR_TO_DYNPTR_UNINIT = 36  # a stack slot the helper initialises as a dynptr
    ARG_PTR_TO_RELEASE_DYNPTR = 37  # a ringbuf dynptr released by the call
    ARG_PTR_TO_RELEASE_BTF_ID_OR_NULL = 38  # kptr_xchg's new value (ownership moves)
    ARG_PTR_TO_RELEASE_SOCK_COMMON = 39  # bpf_sk_release's argument
    ARG_PTR_TO_FIXED_SIZE_MEM = 40  # read-only memory of a size fixed by the prototype (arg_sizes)

    @property
    def nullable(self) -> bool:
        """NULL (the constant 0) is accepted."""
        return self.name.endswith("_OR_NULL")

    @property
    def is_memory(self) -> bool:
        """A pointer to memory whose size is given by the next argument."""
        return self in _SIZED_MEM

    @property
    def is_size(self) -> bool:
        return self in (
            ArgType.ARG_CONST_SIZE,
            ArgType.ARG_CONST_SIZE_OR_ZERO,
            ArgType.ARG_CONST_ALLOC_SIZE_OR_ZERO,
        )

    @property
    def readonly(self) -> bool:
        """The helper only reads the memory (read-only map values are accepted)."""
        return self in (ArgType.ARG_PTR_TO_MEM_RDONLY, ArgType.ARG_PTR_TO_MEM_RDONLY_OR_NULL)

    @property
    def uninit(self) -> bool:
        """The helper writes the memory without reading it: uninitialised stack is accepted."""
        return self in (
            ArgType.ARG_PTR_TO_UNINIT_MEM,
            ArgType.ARG_PTR_TO_UNINIT_MAP_VALUE,
            ArgType.ARG_PTR_TO_LONG,
            ArgType.ARG_PTR_TO_DYNPTR_UNINIT,
        )

    @property
    def releases(self) -> bool:
        """Passing a reference here releases it (OBJ_RELEASE)."""
        return self in (
            ArgType.ARG_PTR_TO_RINGBUF_MEM,
            ArgType.ARG_PTR_TO_RELEASE_DYNPTR,
            ArgType.ARG_PTR_TO_RELEASE_BTF_ID_OR_NULL,
            ArgType.ARG_PTR_TO_RELEASE_SOCK_COMMON,
        )

    @property
    def fixed_size(self) -> int | None:
        """Bytes accessed by ARG_PTR_TO_LONG/INT (ARG_PTR_TO_FIXED_SIZE_MEM: see HelperProto.arg_sizes)."""
        if self is ArgType.ARG_PTR_TO_LONG:
            return 8
        if self is ArgType.ARG_PTR_TO_INT:
            return 4
        return None


_SIZED_MEM = frozenset(
    {
        ArgType.ARG_PTR_TO_MEM,
        ArgType.ARG_PTR_TO_MEM_RDONLY,
        ArgType.ARG_PTR_TO_MEM_OR_NULL,
        ArgType.ARG_PTR_TO_MEM_RDONLY_OR_NULL,
        ArgType.ARG_PTR_TO_UNINIT_MEM,
    }
)


@dataclass(frozen=True, slots=True)
class Callback:
    """A callback argument (ARG_PTR_TO_FUNC): how the helper calls it and what it may return."""

    arg: int  # index (0-based) of the ARG_PTR_TO_FUNC argument
    nargs: int  # how many arguments the callback receives (r1..)
    ret_min: int = 0  # allowed callback return range (the kernel checks it at the callback's exit)
    ret_max: int = 1
    ctx_arg: int | None = None  # index of the helper arg passed through as the callback's context


@dataclass(frozen=True, slots=True)
class HelperProto:
    """One helper's prototype as the verifier sees it (struct bpf_func_proto + availability)."""

    id: int
    name: str  # without the "bpf_" prefix, as in enum bpf_func_id
    ret: RetType = RetType.RET_INTEGER
    args: tuple[ArgType, ...] = ()
    known: bool = True  # False: "unknown prototype" - treat conservatively (reject or clobber all)
    gpl_only: bool = False  # "cannot call GPL-restricted function from non-GPL compatible program"
    pkt_access: bool = False  # packet pointers are accepted as memory arguments
    changes_pkt_data: bool = False  # invalidates every packet pointer the program holds
    acquires: bool = False  # r0 is a reference that must be released on every path
    ret_size_arg: int | None = None  # for RET_*MEM*: index of the arg giving the memory size
    ret_btf_type: str = ""  # struct name for RET_PTR_TO_BTF_ID*
    arg_btf_types: tuple[tuple[int, str], ...] = ()  # (arg index, struct name) of BTF id args
    arg_sizes: tuple[
        tuple[int, int], ...
    ] = ()  # (arg index, bytes) of ARG_PTR_TO_FIXED_SIZE_MEM args
    map_types: frozenset[MapType] | None = (
        None  # map types accepted by ARG_CONST_MAP_PTR (None: any)
    )
    program_types: frozenset[ProgramType] | None = (
        None  # program types that may call it (None: any)
    )
    callback: Callback | None = None
    sleepable_only: bool = False  # only callable from sleepable programs
    privileged_only: bool = (
        False  # needs CAP_BPF/CAP_PERFMON (unavailable to unprivileged programs)
    )

    @property
    def full_name(self) -> str:
        """The C name, e.g. bpf_map_lookup_elem."""
        return f"bpf_{self.name}"

    @property
    def release_arg(self) -> int | None:
        """Index of the argument whose reference the call releases, if any."""
        for i, arg in enumerate(self.args):
            if arg.releases:
                return i
        return None

    def arg(self, index: int) -> ArgType:
        """Argument `index` (0-based), ARG_DONTCARE past the declared ones."""
        return self.args[index] if 0 <= index < len(self.args) else ArgType.ARG_DONTCARE

    def allowed_in(self, program_type: ProgramType | int) -> bool:
        """Whether a program of `program_type` may call this helper."""
        return self.program_types is None or program_type in self.program_types

    def __str__(self) -> str:
        args = ", ".join(a.name for a in self.args)
        return f"{self.ret.name} {self.full_name}#{self.id}({args})"
