"""BTF: parse .BTF/.BTF.ext, look types up, print types and values, encode and sanitise, CO-RE relocations."""

from pybpf.btf.btf import Btf
from pybpf.btf.cheader import c_header
from pybpf.btf.encode import encode_types, fixup_datasecs, sanitize_for_kernel
from pybpf.btf.ext import BtfExt, CoreRelo, CoreReloKind, FuncInfo, LineInfo, parse_btf_ext
from pybpf.btf.printer import declaration, definition, dump_raw
from pybpf.btf.types import BtfType, EnumValue, Kind, Member, Param, VarSecinfo
from pybpf.btf.values import decode_value, encode_value, format_value, map_entry
from pybpf.btf.vmlinux import load_module_btf, load_vmlinux

__all__ = [
    "Btf", "BtfExt", "BtfType", "CoreRelo", "CoreReloKind", "EnumValue", "FuncInfo", "Kind", "LineInfo",
    "Member", "Param", "VarSecinfo", "c_header", "declaration", "decode_value", "definition", "dump_raw", "encode_types",
    "encode_value", "fixup_datasecs", "format_value", "load_module_btf", "load_vmlinux", "map_entry", "parse_btf_ext",
    "sanitize_for_kernel",
]
