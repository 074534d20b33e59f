"""Helper arguments against the prototype (check_func_arg): one rule per argument kind, looked up in a table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybpf import helpers
from pybpf.abi import MapType
from pybpf.errors import VerifierError, VerifierUnsupported
from pybpf.helpers import ArgType as A
from pybpf.verifier import bounds, btf_ctx, const_str, memory
from pybpf.verifier.state import PACKET_TYPES, Reg, RegType, State

if TYPE_CHECKING:
    from pybpf.verifier.checker import Checker

MAX_VAR_SIZ = 1 << 29
MEM_TYPES = (RegType.PTR_TO_STACK, RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META, RegType.PTR_TO_MAP_KEY,
             RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_MEM)
MEM_EXPECTED = "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_"
SOCK_TYPES = (RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_TCP_SOCK)
SOCK_EXPECTED = "sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_"


@dataclass
class Meta:
    """What the arguments seen so far told about the call (the kernel's bpf_call_arg_meta)."""

    map: Any = None
    mem_regno: int = -1
    alloc_size: int | None = None
    release_id: int = 0
    pkt_arg: bool = False
    const_sizes: dict[int, int] | None = None
    const_key: int | None = None


@dataclass
class Arg:
    """One argument register being checked against its prototype slot."""

    ck: Checker
    pc: int
    st: State
    regno: int
    reg: Reg
    kind: A
    proto: helpers.HelperProto
    meta: Meta
    name: str

    def fail(self, msg: str) -> VerifierError:
        return VerifierError(msg, insn=self.pc)

    def expect(self, expected: str) -> VerifierError:
        return self.fail(f"R{self.regno} type={self.reg.type_str()} expected={expected}")


def _is_null(reg: Reg) -> bool:
    return reg.is_scalar and reg.var.is_const() and reg.var.value == 0


def _zero_offset(reg: Reg) -> bool:
    return not reg.off and reg.var.is_const() and reg.var.value == 0


def _anything(a: Arg) -> None:
    if a.ck.is_ptr_leak(a.reg):
        raise a.fail(f"R{a.regno} leaks addr into helper function")


def _map_ptr(a: Arg) -> None:
    reg = a.reg
    if reg.type is not RegType.CONST_PTR_TO_MAP or reg.maybe_null:
        raise a.expect("map_ptr")
    if not helpers.map_compatible(reg.map.type, a.proto.id):
        raise a.fail(f"cannot pass map_type {int(reg.map.type)} into func {a.name}")
    a.meta.map = reg.map


def _map_mem(a: Arg) -> None:
    """Key or value of the map passed before (ARG_PTR_TO_MAP_KEY/VALUE)."""
    reg, m, is_key = a.reg, a.meta.map, a.kind is A.ARG_PTR_TO_MAP_KEY
    if reg.type not in MEM_TYPES or reg.maybe_null:
        raise a.expect(MEM_EXPECTED)
    if m is None:
        raise a.fail("invalid map_ptr to access map->key" if is_key else "invalid map_ptr to access map->value")
    size = m.key_size if is_key else m.value_size
    uninit = a.kind is A.ARG_PTR_TO_UNINIT_MAP_VALUE
    mem_access(a.ck, a.pc, a.st, a.regno, reg, size, write=uninit, init=not uninit, meta=a.meta)
    if is_key and m.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
        a.meta.const_key = constant_map_key(a.ck, a.st, reg, size)
        if a.meta.const_key is not None:  # the key's value decided something: its slot is precise
            if reg.frameno == len(a.st.frames) - 1:
                a.ck.mark_precise(a.st, slots=[(-reg.off - bounds.s64(reg.var.value) - 1) // 8])
            else:
                a.ck.mark_all_precise()


def _memory(a: Arg) -> None:
    """A memory argument whose size comes with the next argument: only its kind is checked here."""
    if a.reg.type not in MEM_TYPES or a.reg.maybe_null:
        raise a.expect(MEM_EXPECTED)
    if a.reg.rdonly and a.reg.type is not RegType.PTR_TO_MAP_VALUE and not a.kind.readonly:
        raise a.fail(f"R{a.regno} cannot write into {a.reg.type_str()}")
    a.meta.mem_regno = a.regno


def _alloc_size(a: Arg) -> None:
    if not a.reg.is_scalar:
        raise a.expect("scalar")
    a.ck.mark_precise(a.st, [a.regno])
    if not a.reg.var.is_const():
        raise a.fail(f"R{a.regno} is not a known constant'")
    a.meta.alloc_size = a.reg.var.value


def _size(a: Arg) -> None:
    """The size of the memory argument before it: bounded, then the whole range accessible."""
    regno, meta = a.regno, a.meta
    if not a.reg.is_scalar:
        raise a.expect("scalar")
    v = a.reg.var
    a.ck.mark_precise(a.st, [regno])
    if v.is_const() and meta.const_sizes is not None:
        meta.const_sizes[regno - 1] = v.value
    zero_ok = a.kind is A.ARG_CONST_SIZE_OR_ZERO
    if v.smin < 0:
        raise a.fail(f"R{regno} min value is negative, either use unsigned or 'var &= const'")
    if v.umin == 0 and not zero_ok:
        raise a.fail(f"R{regno} invalid zero-sized read: u64=[{v.umin},{v.umax}]")
    if v.umax >= MAX_VAR_SIZ:
        raise a.fail(f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'")
    if meta.mem_regno == -2:
        return
    mem_arg = a.proto.arg(regno - 2)
    mem_access(a.ck, a.pc, a.st, regno - 1, a.st.cur.regs[regno - 1], v.umax, write=not mem_arg.readonly,
               init=not mem_arg.uninit, meta=meta, zero_ok=zero_ok)


def _const_str(a: Arg) -> None:
    """ARG_PTR_TO_CONST_STR: a NUL-terminated string in a read-only map value at a known offset."""
    if a.reg.type is not RegType.PTR_TO_MAP_VALUE or a.reg.maybe_null:
        raise a.expect("map_value")
    const_str.string_at(a.pc, a.regno, a.reg)


def _fixed_mem(a: Arg) -> None:
    """ARG_PTR_TO_LONG / ARG_PTR_TO_INT: a fixed number of bytes the helper writes."""
    if a.reg.type not in MEM_TYPES or a.reg.maybe_null:
        raise a.expect(MEM_EXPECTED)
    mem_access(a.ck, a.pc, a.st, a.regno, a.reg, a.kind.fixed_size or 8, write=True, init=False, meta=a.meta)


@dataclass(frozen=True)
class Typed:
    """An argument that must be a pointer of one of `types` (the kernel's compatible_reg_types)."""

    types: tuple[RegType, ...]
    expected: str
    zero_offset: str = ""  # message when the pointer must be unmodified
    releases: bool = False  # OBJ_RELEASE: the reference it holds is dropped by the call
    ringbuf: bool = False

    def __call__(self, a: Arg) -> None:
        reg = a.reg
        if reg.type not in self.types or reg.maybe_null or (self.ringbuf and not reg.ringbuf):
            raise a.expect(self.expected)
        if self.zero_offset and not _zero_offset(reg):
            raise a.fail(self.zero_offset.format(regno=a.regno, off=reg.off))
        if self.releases:
            if not reg.ref_obj_id:
                raise a.fail(f"R{a.regno} must be referenced when passed to release function")
            a.meta.release_id = reg.ref_obj_id


_CTX = Typed((RegType.PTR_TO_CTX,), "ctx", zero_offset="dereference of modified ctx ptr R{regno} off={off} disallowed")
_STACK = Typed((RegType.PTR_TO_STACK,), "fp")
_SOCK = Typed(SOCK_TYPES, SOCK_EXPECTED)


def _btf_sock_common(a: Arg) -> None:
    """ARG_PTR_TO_BTF_ID_SOCK_COMMON: a socket pointer, or a kernel object that begins with a sock_common."""
    reg = a.reg
    if reg.type is RegType.PTR_TO_BTF_ID and not reg.maybe_null:
        if not btf_ctx.starts_with(reg.btf_name or "", "sock_common"):
            raise a.fail(f"R{a.regno} is of type {reg.btf_name} but sock_common is expected")
        return
    _SOCK(a)

RULES: dict[A, Callable[[Arg], None]] = {
    A.ARG_ANYTHING: _anything,
    A.ARG_CONST_MAP_PTR: _map_ptr,
    A.ARG_PTR_TO_MAP_KEY: _map_mem,
    A.ARG_PTR_TO_MAP_VALUE: _map_mem,
    A.ARG_PTR_TO_UNINIT_MAP_VALUE: _map_mem,
    A.ARG_PTR_TO_MAP_VALUE_OR_NULL: _map_mem,
    **{kind: _memory for kind in A if kind.is_memory},
    A.ARG_CONST_SIZE: _size,
    A.ARG_CONST_SIZE_OR_ZERO: _size,
    A.ARG_CONST_ALLOC_SIZE_OR_ZERO: _alloc_size,
    A.ARG_PTR_TO_CONST_STR: _const_str,
    A.ARG_PTR_TO_LONG: _fixed_mem,
    A.ARG_PTR_TO_INT: _fixed_mem,
    A.ARG_PTR_TO_CTX: _CTX,
    A.ARG_PTR_TO_CTX_OR_NULL: _CTX,
    A.ARG_PTR_TO_STACK: _STACK,
    A.ARG_PTR_TO_STACK_OR_NULL: _STACK,
    A.ARG_PTR_TO_FUNC: Typed((RegType.PTR_TO_FUNC,), "func"),
    A.ARG_PTR_TO_RINGBUF_MEM: Typed(
        (RegType.PTR_TO_MEM,), "ringbuf_mem", ringbuf=True, releases=True,
        zero_offset="R{regno} must have zero offset when passed to release func"),
    A.ARG_PTR_TO_RELEASE_SOCK_COMMON: Typed(SOCK_TYPES, SOCK_EXPECTED, releases=True),
    A.ARG_PTR_TO_SOCK_COMMON: _SOCK,
    A.ARG_PTR_TO_SOCKET: _SOCK,
    A.ARG_PTR_TO_SOCKET_OR_NULL: _SOCK,
    A.ARG_PTR_TO_BTF_ID_SOCK_COMMON: _btf_sock_common,
    A.ARG_PTR_TO_BTF_ID_SOCK_COMMON_OR_NULL: _btf_sock_common,
}


def check_arg(ck: Checker, pc: int, st: State, regno: int, kind: A, proto: helpers.HelperProto, meta: Meta,
              name: str) -> None:
    """Check argument register `regno` against prototype slot `kind` (or fail with the kernel's message)."""
    if kind is A.ARG_DONTCARE:
        return
    reg = ck.read(st, pc, regno)
    rule = RULES.get(kind)
    if rule is None:
        raise VerifierUnsupported(f"argument type {kind.name} of {name}", insn=pc)
    if kind.nullable and _is_null(reg):
        if kind.is_memory:
            meta.mem_regno = -2  # its size argument then only needs to be a bounded scalar
        return
    rule(Arg(ck, pc, st, regno, reg, kind, proto, meta, name))


def constant_map_key(ck: Checker, st: State, reg: Reg, key_size: int) -> int | None:
    """The kernel's get_constant_map_key: a key held on the stack as a known constant."""
    if not ck.privileged or reg.type is not RegType.PTR_TO_STACK or not reg.var.is_const():
        return None
    addr = reg.off + bounds.s64(reg.var.value)
    if addr >= 0 or addr < -512:
        return None
    slot_index = (-addr - 1) // 8
    b = addr + (slot_index + 1) * 8
    ck.mark_stack_read(st, reg.frameno, slot_index)
    slot = st.frames[reg.frameno].stack.get(slot_index)
    if slot is None:
        return None
    kinds = slot.kinds[b:]
    zeros = len(kinds) - len(kinds.lstrip("Z"))
    if zeros >= key_size:
        return 0
    if slot.spilled is None or slot.kinds[0] != "S" or not slot.spilled.is_scalar:
        return None
    spills = len(kinds) - len(kinds.lstrip("S"))
    if spills != key_size or not slot.spilled.var.is_const():
        return None
    return slot.spilled.var.value


def mem_access(ck: Checker, pc: int, st: State, regno: int, reg: Reg, size: int, *, write: bool, init: bool,
               meta: Meta, zero_ok: bool = False) -> None:
    """check_helper_mem_access: `size` bytes at reg are accessible (and initialised when read)."""
    t = reg.type
    if t is RegType.PTR_TO_STACK:
        memory.check_stack_range(ck, st, pc, regno, reg, size, init, write)
        return
    if t in PACKET_TYPES:
        meta.pkt_arg = True
        memory.check_packet(pc, regno, reg, 0, size, zero_ok)
        return
    if t is RegType.PTR_TO_MAP_VALUE:
        memory.check_map_access_type(pc, reg.map, reg.off, size, write)
        if size == 0 and zero_ok:
            return
        memory.check_region(pc, regno, reg, 0, size, reg.map.value_size, "map value")
        return
    if t is RegType.PTR_TO_MEM:
        if write and reg.rdonly:
            raise VerifierError(f"R{regno} cannot write into {reg.type_str()}", insn=pc)
        if size == 0 and zero_ok:
            return
        memory.check_region(pc, regno, reg, 0, size, reg.mem_size, "memory")
        return
    if t is RegType.PTR_TO_MAP_KEY:
        memory.check_region(pc, regno, reg, 0, size, reg.mem_size, "memory")
        return
    raise VerifierError(f"R{regno} type={reg.type_str()} expected={MEM_EXPECTED}", insn=pc)
