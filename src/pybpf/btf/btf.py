"""The Btf container: parse the .BTF format lazily (fast enough for vmlinux), look types up, size them."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator, Sequence

from pybpf.btf.types import (
    COMPOSITE_KINDS,
    VOID,
    BtfType,
    EnumValue,
    Kind,
    Member,
    Param,
    VarSecinfo,
)
from pybpf.errors import ObjectError

BTF_MAGIC = 0xEB9F
HEADER = struct.Struct("<HBBIIIII")


def unpack_header(data: bytes, name: str, bad_magic_note: str = "") -> tuple[int, int, int, int, int]:
    """Check the header .BTF and .BTF.ext share (magic, version 1, header length).

    Returns hdr_len and the four u32 section fields that follow it; ObjectError names `name`.
    """
    if len(data) < HEADER.size:
        raise ObjectError(f"{name}: truncated header ({len(data)} bytes)")
    magic, version, _flags, hdr_len, a, b, c, d = HEADER.unpack_from(data)
    if magic != BTF_MAGIC:
        raise ObjectError(f"{name}: bad magic {magic:#06x}{bad_magic_note}")
    if version != 1:
        raise ObjectError(f"{name}: unsupported version {version}")
    if hdr_len < HEADER.size or hdr_len > len(data):
        raise ObjectError(f"{name}: bad header length {hdr_len}")
    return hdr_len, a, b, c, d
_U32x3 = struct.Struct("<III")
_I32 = struct.Struct("<i")
_MAX_DEPTH = 64

# Bytes per vlen entry after the 12-byte header, and fixed extra bytes, per kind.
_VLEN_SIZE = {Kind.STRUCT: 12, Kind.UNION: 12, Kind.ENUM: 8, Kind.FUNC_PROTO: 8, Kind.DATASEC: 12, Kind.ENUM64: 12}
_EXTRA = {Kind.INT: 4, Kind.ARRAY: 12, Kind.VAR: 4, Kind.DECL_TAG: 4}


class Btf:
    """A set of BTF types indexed by id (0 is void) with their string table.

    Built from bytes with `Btf.parse` (types are decoded on first access) or from a list of
    `BtfType`s with `Btf.from_types`. A split BTF (kernel module) takes its `base`.
    """

    def __init__(self) -> None:
        self.base: Btf | None = None
        self.start_id = 1
        self._types_data = b""
        self._strings = b""
        self._offsets: array[int] = array("I")
        self._kinds: bytearray = bytearray()
        self._name_offs: array[int] = array("I")
        self._cache: dict[int, BtfType] = {}
        self._by_name: dict[str, list[int]] | None = None
        self._explicit: list[BtfType] | None = None
        self._overrides: dict[int, BtfType] = {}
        self._align_cache: dict[int, int] = {}

    # -- construction -----------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, base: Btf | None = None, name: str = ".BTF",
              index: tuple[bytes, bytes, bytes, dict[str, list[int]]] | None = None) -> Btf:
        """Parse a .BTF blob; ObjectError says what is wrong and at which offset or type id. `index`: the
        index_state() of an earlier parse of the same bytes."""
        self = cls()
        self.base = base
        self.start_id = len(base) if base is not None else 1
        data = bytes(data)
        hdr_len, type_off, type_len, str_off, str_len = unpack_header(
            data, name, f" (expected {BTF_MAGIC:#06x}; big-endian BTF is not supported)"
        )
        for what, off, length in (("type", type_off, type_len), ("string", str_off, str_len)):
            if hdr_len + off + length > len(data):
                raise ObjectError(
                    f"{name}: {what} section (offset {off}, length {length}) runs past the end "
                    f"of the data ({len(data) - hdr_len} bytes after the header)"
                )
        if type_off % 4:
            raise ObjectError(f"{name}: type section offset {type_off} is not 4-byte aligned")
        self._types_data = data[hdr_len + type_off : hdr_len + type_off + type_len]
        self._strings = data[hdr_len + str_off : hdr_len + str_off + str_len]
        if base is None and self._strings and self._strings[0] != 0:
            raise ObjectError(f"{name}: string section does not start with a NUL byte")
        if self._strings and self._strings[-1] != 0:
            raise ObjectError(f"{name}: string section is not NUL-terminated")
        if index is None:
            self._index(name)
            return self
        offsets, kinds, name_offs, by_name = index
        self._offsets, self._kinds, self._name_offs = array("I"), bytearray(kinds), array("I")
        self._offsets.frombytes(offsets)
        self._name_offs.frombytes(name_offs)
        if not len(self._offsets) == len(self._kinds) == len(self._name_offs) or (
                self._offsets and self._offsets[-1] >= len(self._types_data)):
            raise ObjectError(f"{name}: the index given does not fit this BTF")
        self._by_name = by_name
        return self

    def index_state(self) -> tuple[bytes, bytes, bytes, dict[str, list[int]]]:
        """What parse() and the first name lookup compute for this BTF, as plain data: passed back to
        parse(index=...) for the same bytes, it skips that work (the kernel's BTF has 100,000+ types)."""
        return self._offsets.tobytes(), bytes(self._kinds), self._name_offs.tobytes(), self._name_index()

    def _index(self, name: str) -> None:
        data = self._types_data
        end = len(data)
        offsets = array("I")
        kinds = bytearray()
        name_offs = array("I")
        unpack = _U32x3.unpack_from
        vsize = _VLEN_SIZE
        extra = _EXTRA
        pos = 0
        while pos < end:
            if pos + 12 > end:
                raise ObjectError(f"{name}: type {self.start_id + len(kinds)} truncated at offset {pos}")
            name_off, info, _ = unpack(data, pos)
            kind = (info >> 24) & 0x1F
            if kind == 0 or kind > 19:
                raise ObjectError(
                    f"{name}: invalid BTF kind {kind} for type {self.start_id + len(kinds)} at offset {pos}"
                )
            vlen = info & 0xFFFF
            size = 12 + extra.get(kind, 0) + vlen * vsize.get(kind, 0)
            if pos + size > end:
                raise ObjectError(f"{name}: type {self.start_id + len(kinds)} ({Kind(kind).name}) truncated at offset {pos}")
            offsets.append(pos)
            kinds.append(kind)
            name_offs.append(name_off)
            pos += size
        self._offsets = offsets
        self._kinds = kinds
        self._name_offs = name_offs

    @classmethod
    def from_types(cls, types: Sequence[BtfType], base: Btf | None = None) -> Btf:
        """A Btf made of explicit types; types[i] gets id start_id + i (ids in the records are replaced)."""
        self = cls()
        self.base = base
        self.start_id = len(base) if base is not None else 1
        self._explicit = [t.with_id(self.start_id + i) for i, t in enumerate(types)]
        return self

    def with_types(self, overrides: dict[int, BtfType]) -> Btf:
        """A copy in which some existing type ids are replaced by other type records."""
        new = Btf()
        new.base = self.base
        new.start_id = self.start_id
        new._types_data = self._types_data
        new._strings = self._strings
        new._offsets = self._offsets
        new._kinds = self._kinds
        new._name_offs = self._name_offs
        new._overrides = {**self._overrides}
        if self._explicit is not None:
            new._explicit = list(self._explicit)
        for tid, t in overrides.items():
            if not self.start_id <= tid < len(self):
                raise ObjectError(f"BTF type id {tid} does not exist ({len(self)} types)")
            t = t.with_id(tid)
            if new._explicit is not None:
                new._explicit[tid - self.start_id] = t
            else:
                new._overrides[tid] = t
                if t.kind != self.kind_of(tid) or t.name != self.name_of(tid):
                    new._kinds = bytearray(new._kinds) if new._kinds is self._kinds else new._kinds
                    new._kinds[tid - self.start_id] = int(t.kind)
                    new._by_name = None
        return new

    def _with_strings(self, strings: bytes) -> Btf:
        """Keep a parsed BTF's string table so that encoding preserves its offsets (line info uses them)."""
        self._strings = strings
        return self

    @property
    def string_table(self) -> bytes:
        """The raw string section this BTF was parsed from (empty for explicit types)."""
        return self._strings

    def sanitize_for_kernel(self) -> Btf:
        """A copy the running kernel accepts (see pybpf.btf.encode.sanitize_for_kernel)."""
        from pybpf.btf.encode import sanitize_for_kernel

        return sanitize_for_kernel(self)

    def to_bytes(self) -> bytes:
        """Serialise these types (not a base's) in the .BTF format the kernel accepts."""
        from pybpf.btf.encode import encode

        return encode(self)

    # -- strings ------------------------------------------------------------------------

    def string(self, offset: int) -> str:
        """The NUL-terminated string at `offset` of the string section (split BTF continues the base's)."""
        if self.base is not None:
            base_len = len(self.base._strings)
            if offset < base_len:
                return self.base.string(offset)
            offset -= base_len
        strings = self._strings
        if offset >= len(strings):
            if offset == 0:
                return ""
            raise ObjectError(f"BTF string offset {offset} is outside the string section ({len(strings)} bytes)")
        endpos = strings.find(b"\0", offset)
        return strings[offset:endpos].decode("utf-8", "replace")

    # -- lookup -------------------------------------------------------------------------

    def __len__(self) -> int:
        """One more than the largest type id (ids run from 0, void, to len-1)."""
        n = len(self._explicit) if self._explicit is not None else len(self._offsets)
        return self.start_id + n

    def __iter__(self) -> Iterator[BtfType]:
        """Every type of this BTF (not the base's), in id order."""
        for tid in range(self.start_id, len(self)):
            yield self[tid]

    def __getitem__(self, type_id: int) -> BtfType:
        return self.type(type_id)

    def type(self, type_id: int) -> BtfType:
        """The type with this id; ObjectError for an unknown id."""
        if type_id == 0:
            return VOID
        if type_id < self.start_id:
            if self.base is None:
                raise ObjectError(f"BTF type id {type_id} does not exist")
            return self.base.type(type_id)
        if self._explicit is not None:
            idx = type_id - self.start_id
            if not 0 <= idx < len(self._explicit):
                raise ObjectError(f"BTF type id {type_id} does not exist ({len(self)} types)")
            return self._explicit[idx]
        cached = self._cache.get(type_id) or self._overrides.get(type_id)
        if cached is not None:
            return cached
        idx = type_id - self.start_id
        if not 0 <= idx < len(self._offsets):
            raise ObjectError(f"BTF type id {type_id} does not exist ({len(self)} types)")
        t = self._decode(type_id, self._offsets[idx])
        self._cache[type_id] = t
        return t

    def kind_of(self, type_id: int) -> Kind:
        """The kind of a type without decoding it."""
        if type_id == 0:
            return Kind.VOID
        if type_id < self.start_id and self.base is not None:
            return self.base.kind_of(type_id)
        if self._explicit is not None:
            return self.type(type_id).kind
        idx = type_id - self.start_id
        if not 0 <= idx < len(self._kinds):
            raise ObjectError(f"BTF type id {type_id} does not exist ({len(self)} types)")
        return Kind(self._kinds[idx])

    def _decode(self, tid: int, pos: int) -> BtfType:
        data = self._types_data
        name_off, info, word = _U32x3.unpack_from(data, pos)
        kind = Kind((info >> 24) & 0x1F)
        vlen = info & 0xFFFF
        kflag = bool(info >> 31)
        name = self.string(name_off)
        p = pos + 12
        s = self.string
        if kind == Kind.INT:
            (v,) = struct.unpack_from("<I", data, p)
            return BtfType(tid, kind, name, size=word, encoding=(v >> 24) & 0xF,
                           bit_offset=(v >> 16) & 0xFF, bits=v & 0xFF)
        if kind == Kind.ARRAY:
            elem, index, nelems = _U32x3.unpack_from(data, p)
            return BtfType(tid, kind, name, elem_type=elem, index_type=index, nelems=nelems)
        if kind in COMPOSITE_KINDS:
            members = []
            for i in range(vlen):
                m_name, m_type, m_off = _U32x3.unpack_from(data, p + 12 * i)
                if kflag:
                    members.append(Member(s(m_name), m_type, m_off & 0xFFFFFF, m_off >> 24))
                else:
                    members.append(Member(s(m_name), m_type, m_off))
            return BtfType(tid, kind, name, size=word, kind_flag=kflag, members=tuple(members))
        if kind == Kind.ENUM:
            vals = []
            for i in range(vlen):
                v_name, v_val = struct.unpack_from("<Ii" if kflag else "<II", data, p + 8 * i)
                vals.append(EnumValue(s(v_name), v_val))
            return BtfType(tid, kind, name, size=word, kind_flag=kflag, values=tuple(vals))
        if kind == Kind.ENUM64:
            vals = []
            for i in range(vlen):
                v_name, lo, hi = _U32x3.unpack_from(data, p + 12 * i)
                v = lo | (hi << 32)
                if kflag and v >= 1 << 63:
                    v -= 1 << 64
                vals.append(EnumValue(s(v_name), v))
            return BtfType(tid, kind, name, size=word, kind_flag=kflag, values=tuple(vals))
        if kind == Kind.FUNC_PROTO:
            params = tuple(
                Param(s(a), b) for a, b in (struct.unpack_from("<II", data, p + 8 * i) for i in range(vlen))
            )
            return BtfType(tid, kind, name, type_id=word, params=params)
        if kind == Kind.DATASEC:
            infos = tuple(VarSecinfo(*_U32x3.unpack_from(data, p + 12 * i)) for i in range(vlen))
            return BtfType(tid, kind, name, size=word, secinfos=infos)
        if kind == Kind.VAR:
            (linkage,) = struct.unpack_from("<I", data, p)
            return BtfType(tid, kind, name, type_id=word, linkage=linkage)
        if kind == Kind.DECL_TAG:
            (comp,) = _I32.unpack_from(data, p)
            return BtfType(tid, kind, name, type_id=word, component_idx=comp)
        if kind == Kind.FUNC:
            return BtfType(tid, kind, name, type_id=word, linkage=vlen)
        if kind in (Kind.FLOAT,):
            return BtfType(tid, kind, name, size=word)
        if kind == Kind.FWD:
            return BtfType(tid, kind, name, kind_flag=kflag)
        return BtfType(tid, kind, name, type_id=word, kind_flag=kflag)

    def name_of(self, type_id: int) -> str:
        """A type's name without decoding the whole type."""
        if type_id == 0:
            return ""
        if type_id < self.start_id and self.base is not None:
            return self.base.name_of(type_id)
        if self._explicit is not None or type_id in self._overrides:
            return self.type(type_id).name
        idx = type_id - self.start_id
        if not 0 <= idx < len(self._name_offs):
            raise ObjectError(f"BTF type id {type_id} does not exist ({len(self)} types)")
        return self.string(self._name_offs[idx])

    def _name_index(self) -> dict[str, list[int]]:
        if self._by_name is None:
            index: dict[str, list[int]] = {}
            if self._explicit is not None:
                for t in self._explicit:
                    if t.name:
                        index.setdefault(t.name, []).append(t.id)
            else:
                strings = self._strings
                base_len = len(self.base._strings) if self.base is not None else 0
                cache: dict[int, str] = {}
                for i, off in enumerate(self._name_offs):
                    if off == 0:
                        continue
                    nm = cache.get(off)
                    if nm is None:
                        if self.base is not None and off < base_len:
                            nm = self.base.string(off)
                        else:
                            o = off - base_len
                            nm = strings[o : strings.find(b"\0", o)].decode("utf-8", "replace")
                        cache[off] = nm
                    index.setdefault(nm, []).append(self.start_id + i)
                for tid, t in self._overrides.items():
                    old = self.string(self._name_offs[tid - self.start_id])
                    if old in index and tid in index[old]:
                        index[old].remove(tid)
                    if t.name:
                        index.setdefault(t.name, []).append(tid)
                        index[t.name].sort()
            self._by_name = index
        return self._by_name

    def find_all(self, name: str, kind: Kind | None = None) -> list[BtfType]:
        """Every type (of a kind, if given) with this name, base BTF included."""
        out = self.base.find_all(name, kind) if self.base is not None else []
        for tid in self._name_index().get(name, ()):
            if kind is None or self.kind_of(tid) == kind:
                out.append(self.type(tid))
        return out

    def find(self, name: str, kind: Kind | None = None) -> BtfType | None:
        """The first type (of a kind, if given) with this name, or None."""
        found = self.find_all(name, kind)
        return found[0] if found else None

    def names(self) -> Iterator[str]:
        """Every distinct type name of this BTF."""
        return iter(self._name_index())

    # -- type arithmetic ---------------------------------------------------------------

    def skip_modifiers(self, type_id: int, *, typedefs: bool = True) -> BtfType:
        """Follow const/volatile/restrict/type_tag (and typedefs) to the underlying type."""
        t = self.type(type_id)
        for _ in range(_MAX_DEPTH):
            if t.is_modifier or (typedefs and t.kind == Kind.TYPEDEF):
                t = self.type(t.type_id)
            else:
                return t
        raise ObjectError(f"BTF type {type_id}: modifier chain too long or looping")

    def sizeof(self, type_id: int) -> int:
        """Size in bytes of a type (as the kernel's btf__resolve_size)."""
        t = self.type(type_id)
        nelems = 1
        for _ in range(_MAX_DEPTH):
            k = t.kind
            if k in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.DATASEC, Kind.FLOAT):
                return nelems * t.size
            if k == Kind.PTR:
                return nelems * 8
            if k in (Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.VAR, Kind.TYPE_TAG):
                t = self.type(t.type_id)
                continue
            if k == Kind.ARRAY:
                nelems *= t.nelems
                if nelems > 1 << 40:
                    raise ObjectError(f"BTF type {type_id}: array too large")
                t = self.type(t.elem_type)
                continue
            raise ObjectError(f"BTF type {type_id} ({t.kind.name}) has no size")
        raise ObjectError(f"BTF type {type_id}: type chain too long or looping")

    def alignof(self, type_id: int) -> int:
        """Alignment in bytes of a type (natural alignment, capped at 8; 1 for packed structs)."""
        cached = self._align_cache.get(type_id)
        if cached is None:
            cached = self._alignof(type_id, 0)
            self._align_cache[type_id] = cached
        return cached

    def _alignof(self, type_id: int, depth: int) -> int:
        if depth > _MAX_DEPTH:
            raise ObjectError(f"BTF type {type_id}: type chain too long or looping")
        t = self.skip_modifiers(type_id)
        k = t.kind
        if k in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FLOAT):
            return max(1, min(t.size, 8))
        if k == Kind.PTR:
            return 8
        if k == Kind.ARRAY:
            return self._alignof(t.elem_type, depth + 1)
        if k in COMPOSITE_KINDS:
            align = 1
            for m in t.members:
                member_align = self._align_cache.get(m.type_id) or self._alignof(m.type_id, depth + 1)
                if not m.bitfield_size and m.bit_offset % (8 * member_align):
                    return 1  # a member off its natural alignment: the struct is packed
                align = max(align, member_align)  # bitfields' declared types count too (C rules)
            if t.size % align:
                return 1  # a size that is not a multiple of the alignment: packed
            return align
        return 1

    def kind_counts(self) -> dict[str, int]:
        """Number of types of each kind (this BTF only)."""
        counts: dict[str, int] = {}
        if self._explicit is not None:
            kinds = [int(t.kind) for t in self._explicit]
        else:
            kinds = list(self._kinds)
        for k in kinds:
            counts[Kind(k).name] = counts.get(Kind(k).name, 0) + 1
        return counts
