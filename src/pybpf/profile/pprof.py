"""pprof output: the Profile as gzipped profile.proto (perftools.profiles), which go tool pprof, Parca and Pyroscope read.

The message classes come from a descriptor built here from profile.proto's public field numbers
(no generated _pb2 module, no protoc).
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from typing import Any

from pybpf.profile.model import Frame, MappingInfo, Profile

_I64, _U64, _BOOL, _STR, _MSG = "int64", "uint64", "bool", "string", "message"
# message -> [(field, number, type, repeated, message type)]
_SCHEMA: dict[str, list[tuple[str, int, str, bool, str]]] = {
    "Profile": [("sample_type", 1, _MSG, True, "ValueType"), ("sample", 2, _MSG, True, "Sample"),
                ("mapping", 3, _MSG, True, "Mapping"), ("location", 4, _MSG, True, "Location"),
                ("function", 5, _MSG, True, "Function"), ("string_table", 6, _STR, True, ""),
                ("drop_frames", 7, _I64, False, ""), ("keep_frames", 8, _I64, False, ""),
                ("time_nanos", 9, _I64, False, ""), ("duration_nanos", 10, _I64, False, ""),
                ("period_type", 11, _MSG, False, "ValueType"), ("period", 12, _I64, False, ""),
                ("comment", 13, _I64, True, ""), ("default_sample_type", 14, _I64, False, "")],
    "ValueType": [("type", 1, _I64, False, ""), ("unit", 2, _I64, False, "")],
    "Sample": [("location_id", 1, _U64, True, ""), ("value", 2, _I64, True, ""), ("label", 3, _MSG, True, "Label")],
    "Label": [("key", 1, _I64, False, ""), ("str", 2, _I64, False, ""), ("num", 3, _I64, False, ""),
              ("num_unit", 4, _I64, False, "")],
    "Mapping": [("id", 1, _U64, False, ""), ("memory_start", 2, _U64, False, ""),
                ("memory_limit", 3, _U64, False, ""), ("file_offset", 4, _U64, False, ""),
                ("filename", 5, _I64, False, ""), ("build_id", 6, _I64, False, ""),
                ("has_functions", 7, _BOOL, False, ""), ("has_filenames", 8, _BOOL, False, ""),
                ("has_line_numbers", 9, _BOOL, False, ""), ("has_inline_frames", 10, _BOOL, False, "")],
    "Location": [("id", 1, _U64, False, ""), ("mapping_id", 2, _U64, False, ""), ("address", 3, _U64, False, ""),
                 ("line", 4, _MSG, True, "Line"), ("is_folded", 5, _BOOL, False, "")],
    "Line": [("function_id", 1, _U64, False, ""), ("line", 2, _I64, False, ""), ("column", 3, _I64, False, "")],
    "Function": [("id", 1, _U64, False, ""), ("name", 2, _I64, False, ""), ("system_name", 3, _I64, False, ""),
                 ("filename", 4, _I64, False, ""), ("start_line", 5, _I64, False, "")],
}


@lru_cache(maxsize=1)
def messages() -> dict[str, Any]:
    """The perftools.profiles message classes, by name."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="pybpf_profile.proto", package="perftools.profiles",
                                             syntax="proto3")
    fdt = descriptor_pb2.FieldDescriptorProto
    kinds = {_I64: fdt.TYPE_INT64, _U64: fdt.TYPE_UINT64, _BOOL: fdt.TYPE_BOOL, _STR: fdt.TYPE_STRING,
             _MSG: fdt.TYPE_MESSAGE}
    for name, fields in _SCHEMA.items():
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, repeated, mtype in fields:
            f = msg.field.add(name=fname, number=number, type=kinds[ftype], label=fdt.LABEL_REPEATED if repeated else fdt.LABEL_OPTIONAL)
            if mtype:
                f.type_name = f".perftools.profiles.{mtype}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"perftools.profiles.{name}"))
            for name in _SCHEMA}


class _Builder:
    def __init__(self) -> None:
        m = messages()
        self.msg = m["Profile"]()
        self.strings: dict[str, int] = {}
        self.functions: dict[tuple[str, str], int] = {}
        self.mappings: dict[tuple[int, int, str], int] = {}
        self.locations: dict[tuple[str, str, int, str], int] = {}
        self.string("")

    def string(self, s: str) -> int:
        if s not in self.strings:
            self.strings[s] = len(self.strings)
            self.msg.string_table.append(s)
        return self.strings[s]

    def mapping(self, info: MappingInfo) -> int:
        key = (info.start, info.limit, info.path)
        if key not in self.mappings:
            mid = len(self.mappings) + 1
            self.mappings[key] = mid
            self.msg.mapping.add(id=mid, memory_start=info.start, memory_limit=info.limit, file_offset=info.offset,
                                 filename=self.string(info.path), build_id=self.string(info.build_id),
                                 has_functions=True)
        return self.mappings[key]

    def function(self, name: str, filename: str) -> int:
        key = (name, filename)
        if key not in self.functions:
            fid = len(self.functions) + 1
            self.functions[key] = fid
            self.msg.function.add(id=fid, name=self.string(name), system_name=self.string(name),
                                  filename=self.string(filename))
        return self.functions[key]

    def location(self, frame: Frame) -> int:
        # Python frames are one location per function (the code object address says nothing to pprof)
        address = 0 if frame.kind == "python" else frame.address
        key = (frame.label, frame.module, address, frame.kind)
        if key not in self.locations:
            lid = len(self.locations) + 1
            self.locations[key] = lid
            mapping_id = self.mapping(frame.mapping) if frame.mapping else 0
            fid = self.function(frame.label, frame.mapping.path if frame.mapping else frame.module)
            loc = self.msg.location.add(id=lid, mapping_id=mapping_id, address=address)
            loc.line.add(function_id=fid)
        return self.locations[key]


def to_proto(profile: Profile) -> Any:
    """The profile as a perftools.profiles.Profile message: samples/count and cpu/nanoseconds per stack."""
    b = _Builder()
    msg = b.msg
    msg.sample_type.add(type=b.string("samples"), unit=b.string("count"))
    msg.sample_type.add(type=b.string("cpu"), unit=b.string("nanoseconds"))
    msg.period_type.type, msg.period_type.unit = b.string("cpu"), b.string("nanoseconds")
    msg.period = profile.period_ns
    msg.time_nanos = profile.start_ns
    msg.duration_nanos = int(profile.duration * 1e9)
    msg.default_sample_type = 1
    msg.comment.append(b.string(f"pybpf profile: {profile.event} at {profile.frequency} Hz"))
    for sample in profile.samples:
        s = msg.sample.add()
        s.location_id.extend(b.location(f) for f in reversed(sample.frames))  # leaf first
        s.value.extend([sample.count, sample.count * profile.period_ns])
        s.label.add(key=b.string("pid"), num=sample.pid)
        s.label.add(key=b.string("comm"), str=b.string(sample.comm))
    return msg


def dumps(profile: Profile) -> bytes:
    """The gzipped profile.proto bytes of `profile`."""
    return gzip.compress(to_proto(profile).SerializeToString())
