"""Checks of the functions tied to one probe kind or to compile-time values: strcontains, pton, override, path,
skboutput (kept apart from semantic_calls so each file stays small)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from pybpf.trace import ast
from pybpf.trace.types import INT, STRLEN, Type, string

if TYPE_CHECKING:
    from pybpf.trace.semantic import ProbeScope
    from pybpf.trace.semantic_calls import CallChecker

TRACING_ONLY = ("fentry", "fexit", "iter")


def pton_bytes(text: str) -> bytes | None:
    """The address bytes of an IPv4 or IPv6 literal (network order), None when it is neither."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_pton(family, text)
        except OSError:
            continue
    return None


def check_more(an: CallChecker, e: ast.Call, scope: ProbeScope) -> Type:
    name, args = e.name, e.args
    prov = scope.probe.provider
    if len(args) != {"strcontains": 2, "pton": 1, "override": 1, "skboutput": 4}.get(name, len(args)):
        raise an.err(e, f"{name}() takes {len(args)} arguments: wrong count")
    if name == "pton":
        if not isinstance(args[0], ast.String) or pton_bytes(args[0].value) is None:
            raise an.err(args[0], "pton() expects an IPv4 or IPv6 address literal such as \"127.0.0.1\" or \"::1\"")
        raw = pton_bytes(args[0].value) or b""
        if len(raw) == 4:  # compared with a u32 address read from memory: the same bytes as an integer
            an.constants[f"pton:{id(e)}"] = int.from_bytes(raw, "little")
            return Type("int", size=4, signed=False)
        return Type("inet", 24)
    if name == "strcontains":
        types = [an.typeof(a, scope) for a in args]
        if types[0].kind != "str" or types[1].kind != "str":
            raise an.err(e, f"strcontains() expects two strings, not {types[0]} and {types[1]}")
        if not isinstance(args[1], ast.String):
            raise an.err(args[1], "strcontains(): the needle must be a string literal here")
        return INT
    if name == "override":
        if prov not in ("kprobe", "kretprobe"):
            raise an.err(e, "override() can only be used inside kprobes")
        if an.typeof(args[0], scope).kind != "int":
            raise an.err(args[0], "override() only supports int arguments")
        return INT
    if name == "path":
        if prov not in TRACING_ONLY:
            raise an.err(e, "path() can only be used with fentry/fexit (kfunc/kretfunc) and iter probes "
                         "(bpf_d_path is a tracing-program helper)")
        if an.typeof(args[0], scope).kind != "int":
            raise an.err(args[0], "path() expects a pointer to a struct path")
        size = STRLEN
        if len(args) == 2:
            if not isinstance(args[1], ast.Integer) or not 0 < args[1].value <= 256:
                raise an.err(args[1], "path() size must be an integer literal from 1 to 256")
            size = args[1].value
        return string(size)
    # skboutput(path, skb, len, offset): packets to a pcap file, through bpf_skb_output
    if prov not in ("fentry", "fexit"):
        raise an.err(e, "skboutput() can only be used with fentry/fexit (kfunc/kretfunc) probes "
                     "(bpf_skb_output is a tracing-program helper)")
    if not isinstance(args[0], ast.String) or not args[0].value:
        raise an.err(args[0], "skboutput() expects a pcap file name (string literal) first")
    for a in args[1:]:
        if an.typeof(a, scope).kind != "int":
            raise an.err(a, "skboutput() expects an skb pointer, a length and an offset (integers)")
    an.skb_outputs.append(args[0].value)
    return INT
