"""`pybpf map lookup|update|delete|pin`: change live kernel maps from the shell, bpftool-style.

Keys and values are bpftool's byte form (`key 0x16 0x00`, `key hex 16 00`) or, through the
map's BTF, JSON (`key json 22`, `value json '{"tgid": 1, "nr": 2}'`). `--map NAME KEY=VALUE`
of `run` and `attach` uses the JSON form (see `set_entries`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pybpf.errors import BpfError

UPDATE_FLAGS = ("any", "noexist", "exist")


def register(sub: Any) -> None:
    """Add lookup, update, delete and pin to `pybpf map`'s sub-commands."""
    words = ("key BYTES... | key hex HEX... | key json JSON")
    for name, text in (("lookup", "one entry by key"), ("delete", "remove one entry by key"),
                       ("update", "set one entry: ... key K value V [any|noexist|exist]")):
        q = sub.add_parser(name, help=text, description=f"{text}. Keys and values: {words}.")
        q.add_argument("map", help="map id, or a path pinned on bpffs")
        q.add_argument("words", nargs=argparse.REMAINDER, metavar="key ... [value ...]")
        q.add_argument("--json", action="store_true")
    q = sub.add_parser("pin", help="pin a map (by id or path) at a bpffs path")
    q.add_argument("map", help="map id, or a path pinned on bpffs")
    q.add_argument("path", help="where to pin it (on bpffs, e.g. /sys/fs/bpf/NAME)")


def _split(words: list[str]) -> tuple[list[str], list[str], str]:
    """`key ... value ... [flag]` -> key words, value words, flag."""
    if not words or words[0] != "key":
        raise BpfError("expected: key BYTES... (or key hex HEX..., key json JSON)")
    rest = words[1:]
    flag = "any"
    if rest and rest[-1] in UPDATE_FLAGS:
        flag = rest.pop()
    if "value" in rest:
        at = rest.index("value")
        return rest[:at], rest[at + 1 :], flag
    return rest, [], flag


def encode(words: list[str], size: int, btf: Any, type_id: int, what: str) -> bytes:
    """Bytes of a key or value from its words (byte form, `hex ...` or `json TEXT`)."""
    from pybpf.btf.entries import parse_bytes, parse_typed

    if words and words[0] == "json":
        if len(words) != 2:
            raise BpfError(f"{what} json takes one JSON argument (quote it)")
        return parse_typed(words[1], size, btf, type_id, what)
    return parse_bytes(words, size, what)


def run(args: argparse.Namespace, m: Any, info: Any, btf: Any) -> int:
    """Carry out lookup/update/delete/pin on the open map `m`."""
    from pybpf.abi import UpdateFlags
    from pybpf.btf.entries import entry, entry_line

    if args.map_cmd == "pin":
        m.pin(args.path)
        return 0
    if "--json" in args.words:  # after the key words, argparse leaves it among them
        args.words = [w for w in args.words if w != "--json"]
        args.json = True
    key_words, value_words, flag = _split(args.words)
    key = encode(key_words, m.key_size, btf, m.spec.key_type_id, "key")
    if args.map_cmd == "update":
        if not value_words:
            raise BpfError("update needs: key ... value ...")
        size = m.value_size
        value = encode(value_words, size, btf, m.spec.value_type_id, "value")
        m.update(key, _per_cpu(m, value), UpdateFlags[flag.upper()])
        return 0
    if value_words:
        raise BpfError(f"{args.map_cmd} takes a key only")
    if args.map_cmd == "delete":
        m.delete(key)
        return 0
    found = m.lookup(key)
    if found is None:
        print(f"pybpf map: lookup: key not found in map {info.id}", file=sys.stderr)
        return 1
    e = entry(btf, m.spec.key_type_id, m.spec.value_type_id, key, found)
    if args.json:
        from pybpf.cli._output import print_json

        print_json(e)
    else:
        print(entry_line(e))
    return 0


def parse_assignments(pairs: list[list[str]]) -> list[tuple[str, str, str]]:
    """`--map NAME KEY=VALUE` options as (map, key text, value text)."""
    out = []
    for name, assignment in pairs:
        key, sep, value = assignment.partition("=")
        if not sep or not key or not value:
            raise BpfError(f"--map {name}: expected KEY=VALUE, not {assignment!r}")
        out.append((name, key, value))
    return out


def set_entries(maps: Any, btf: Any, assignments: list[tuple[str, str, str]]) -> None:
    """Write each (map, key, value) into the loaded collection's maps, typed through BTF."""
    from pybpf.btf.entries import parse_typed

    for name, key_text, value_text in assignments:
        if name not in maps:
            raise BpfError(f"--map: no map {name!r} (maps: {', '.join(sorted(maps)) or 'none'})")
        m = maps[name]
        key = parse_typed(key_text, m.key_size, btf, m.spec.key_type_id, f"--map {name} key")
        value = parse_typed(value_text, m.value_size, btf, m.spec.value_type_id, f"--map {name} value")
        m[key] = _per_cpu(m, value)


def _per_cpu(m: Any, value: bytes) -> bytes | list[bytes]:
    """A per-CPU map's value is one copy per CPU: the same value on every CPU."""
    return [value] * getattr(m, "ncpus", 1) if "PERCPU" in m.type.name else value
