"""BTF: parse .BTF/.BTF.ext, look types up, print types and values, encode and sanitise, CO-RE relocations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf._lazy import lazy_exports

# Every name is imported from its submodule on first use (PEP 562): `import pybpf.btf.types`
# does not pay for the parser, the printers and the encoder.
if TYPE_CHECKING:
    from pybpf.btf.btf import Btf
    from pybpf.btf.cheader import c_header
    from pybpf.btf.encode import encode_types, fixup_datasecs, sanitize_for_kernel
    from pybpf.btf.ext import BtfExt, CoreRelo, CoreReloKind, FuncInfo, LineInfo, parse_btf_ext
    from pybpf.btf.printer import declaration, definition, dump_raw
    from pybpf.btf.types import BtfType, EnumValue, Kind, Member, Param, VarSecinfo
    from pybpf.btf.values import decode_value, encode_value, format_value, map_entry
    from pybpf.btf.vmlinux import load_module_btf, load_vmlinux

_LAZY = {
    "Btf": "btf",
    "c_header": "cheader",
    "encode_types": "encode", "fixup_datasecs": "encode", "sanitize_for_kernel": "encode",
    "BtfExt": "ext", "CoreRelo": "ext", "CoreReloKind": "ext", "FuncInfo": "ext", "LineInfo": "ext",
    "parse_btf_ext": "ext",
    "declaration": "printer", "definition": "printer", "dump_raw": "printer",
    "BtfType": "types", "EnumValue": "types", "Kind": "types", "Member": "types", "Param": "types",
    "VarSecinfo": "types",
    "decode_value": "values", "encode_value": "values", "format_value": "values", "map_entry": "values",
    "load_module_btf": "vmlinux", "load_vmlinux": "vmlinux",
}

__all__ = [
    "Btf", "BtfExt", "BtfType", "CoreRelo", "CoreReloKind", "EnumValue", "FuncInfo", "Kind", "LineInfo",
    "Member", "Param", "VarSecinfo", "c_header", "declaration", "decode_value", "definition", "dump_raw", "encode_types",
    "encode_value", "fixup_datasecs", "format_value", "load_module_btf", "load_vmlinux", "map_entry", "parse_btf_ext",
    "sanitize_for_kernel",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
