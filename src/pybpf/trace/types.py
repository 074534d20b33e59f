"""Value types of the bpftrace language (integers, fixed-size strings, tuples) and map descriptions."""

from __future__ import annotations

from dataclasses import dataclass, field

STRLEN = 64  # bpftrace's default BPFTRACE_STRLEN
COMM_LEN = 16
MAP_KEYS_MAX = 4096
AGGREGATES = ("count", "sum", "avg", "min", "max", "stats", "hist", "lhist")


def round8(n: int) -> int:
    return (n + 7) & ~7


@dataclass(frozen=True)
class Type:
    """kind "int" (8 bytes in maps and records), "str" (size bytes, NUL padded), "tuple" (items), or a
    value symbolized in user space: "kstack"/"ksym" (8 bytes), "ustack"/"usym" (16: with the pid)."""

    kind: str
    size: int = 8
    signed: bool = True
    items: tuple[Type, ...] = ()
    limit: int = 0  # frames kept of a kstack/ustack (0: all)
    btf_id: int = 0  # int that is the address of this kernel struct/union (a pointer, or an embedded struct)
    user: bool = False  # ... in user memory (read with the *_user helpers)
    deref: int = 0  # pointer to an integer of this size (from a cast such as (uint32 *)), read by unary *
    fmt: str = ""  # strftime(): the time format applied in user space

    @property
    def is_buffer(self) -> bool:
        """Values evaluated into a stack buffer rather than a register."""
        return self.kind != "int"

    @property
    def storage(self) -> int:
        """Bytes this value occupies in a key, a map value or an event record (multiple of 8)."""
        if self.kind == "tuple":
            return sum(t.storage for t in self.items)
        return 8 if self.kind == "int" else round8(self.size)

    def __str__(self) -> str:
        if self.kind == "str":
            return f"string[{self.size}]"
        if self.kind == "tuple":
            return "(" + ", ".join(map(str, self.items)) + ")"
        return "int64" if self.signed else "uint64"


INT = Type("int")
UINT = Type("int", signed=False)


KSTACK = Type("kstack", 8)
USTACK = Type("ustack", 16)
KSYM = Type("ksym", 8)
USYM = Type("usym", 16)


def string(size: int) -> Type:
    """string[size] (its storage is rounded up to 8 bytes)."""
    return Type("str", max(size, 1))


def unify(a: Type, b: Type) -> Type | None:
    """The common type of two values stored in the same place, or None when incompatible."""
    if a.kind != b.kind:
        return None
    if a.kind == "int":
        return a if a.signed == b.signed else INT
    if a.kind == "str":
        return a if a.size >= b.size else b
    if a.kind != "tuple":
        return a if a == b else None
    if len(a.items) != len(b.items):
        return None
    items = [unify(x, y) for x, y in zip(a.items, b.items, strict=True)]
    if any(i is None for i in items):
        return None
    return Type("tuple", items=tuple(i for i in items if i is not None))


@dataclass
class MapInfo:
    """What a @map holds: key type (None: no key), value kind and type, lhist parameters."""

    name: str
    key: Type | None = None
    kind: str = ""  # "int", "str", or one of AGGREGATES
    value: Type = INT
    lhist: tuple[int, int, int] = (0, 0, 1)
    keyed_uses: set[bool] = field(default_factory=set)

    @property
    def key_storage(self) -> int:
        return self.key.storage if self.key is not None else 8

    @property
    def percpu(self) -> bool:
        return self.kind in AGGREGATES

    @property
    def bpf_key_size(self) -> int:
        return self.key_storage + (8 if self.kind in ("hist", "lhist") else 0)

    @property
    def bpf_value_size(self) -> int:
        if self.kind in ("avg", "stats", "min", "max"):
            return 16
        if self.kind == "str":
            return self.value.storage
        return 8
