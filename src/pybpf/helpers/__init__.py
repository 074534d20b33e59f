"""The kernel helper catalogue: every helper id and name, prototypes, and map/program compatibility.

    >>> from pybpf.helpers import HELPERS, by_name
    >>> by_name("map_lookup_elem").ret.name
    'RET_PTR_TO_MAP_VALUE_OR_NULL'

`HELPERS` holds every id of the kernel's enum bpf_func_id (0..211 on Linux 6.18). Helpers whose
prototype pybpf does not describe have `known=False`: a verifier must treat a call to them
conservatively (pybpf's verifier rejects them as the kernel does an unknown function).

`HelperProto.program_types` says which program types may call a helper: for the program types
that could be probed it is what the running Linux kernel answered (availability.py: the live probe
cached per kernel build, else a fallback table); for the others (TRACING, LSM, EXT, STRUCT_OPS,
LIRC_MODE2) it is the prototype's documented family. `refresh()` rebuilds the catalogue after a
new probe (pybpf.kernel.kfacts does this).

The tests check the table against the running kernel (tests/helpers/test_protos_vs_kernel.py):
for every helper with plain arguments, a call built from the prototype must load; "uninit"
and read-only claims, return types, map-type compatibility, pkt_access, changes_pkt_data and
gpl_only must give the kernel's verdicts. Callback, BTF-object, dynptr, lock and timer arguments
are written from the kernel's documentation and not machine-checked.
"""

from __future__ import annotations

from dataclasses import replace

from pybpf.abi import ProgramType
from pybpf.helpers import availability
from pybpf.helpers.compat import MAP_TYPE_HELPERS, map_compatible
from pybpf.helpers.ids import HELPER_NAMES, MAX_HELPER_ID
from pybpf.helpers.privilege import PRIVILEGED_HELPERS
from pybpf.helpers.protos_base import BASE_PROTOS
from pybpf.helpers.protos_net import NET_PROTOS, TRACING_ARGS
from pybpf.helpers.types import ArgType, Callback, HelperProto, RetType

__all__ = [
    "HELPERS",
    "for_program",
    "allowed",
    "HELPER_NAMES",
    "MAP_TYPE_HELPERS",
    "MAX_HELPER_ID",
    "ArgType",
    "Callback",
    "HelperProto",
    "RetType",
    "by_name",
    "get",
    "helper_name",
    "map_compatible",
    "refresh",
]


def _program_types(p: HelperProto) -> frozenset[ProgramType]:
    """Program types that may call `p`: the kernel's answer where probed, the prototype's elsewhere."""
    probed = frozenset(ProgramType[name] for name in availability.PROBED if name in ProgramType.__members__)
    kernel_says = frozenset(
        ProgramType[name] for name in availability.AVAILABLE.get(p.id, ()) if name in ProgramType.__members__
    )
    unprobed = frozenset(ProgramType) - probed - {ProgramType.UNSPEC}
    static = unprobed if p.program_types is None else p.program_types & unprobed
    return kernel_says | static


def _build() -> dict[int, HelperProto]:
    table: dict[int, HelperProto] = {}
    for p in BASE_PROTOS + NET_PROTOS:
        if p.id in table:
            raise AssertionError(f"helper {p.id} described twice")
        privileged = p.privileged_only or p.id in PRIVILEGED_HELPERS
        table[p.id] = replace(p, program_types=_program_types(p), privileged_only=privileged)
    for helper_id, name in enumerate(HELPER_NAMES):
        if helper_id not in table:
            table[helper_id] = HelperProto(
                id=helper_id, name=name, known=False, program_types=frozenset()
            )
    return dict(sorted(table.items()))


HELPERS: dict[int, HelperProto] = _build()
_BY_NAME: dict[str, HelperProto] = {p.name: p for p in HELPERS.values()}


def refresh() -> None:
    """Rebuild HELPERS in place from the current availability answer (after a live kernel probe)."""
    table = _build()
    HELPERS.clear()
    HELPERS.update(table)
    _BY_NAME.clear()
    _BY_NAME.update({p.name: p for p in table.values()})


def by_name(name: str) -> HelperProto:
    """The helper called `name` ("map_lookup_elem", "bpf_map_lookup_elem" or "BPF_FUNC_map_lookup_elem").

    Raises KeyError for a name the kernel does not have.
    """
    key = name
    for prefix in ("BPF_FUNC_", "bpf_"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    return _BY_NAME[key]


def get(helper_id: int) -> HelperProto | None:
    """The helper with kernel id `helper_id`, or None if the kernel has no such helper."""
    return HELPERS.get(helper_id)


def for_program(helper_id: int, program_type: ProgramType | int) -> HelperProto | None:
    """The prototype a program of `program_type` sees: tracing and LSM programs get their own for a few."""
    p = HELPERS.get(helper_id)
    if p is not None and program_type in (ProgramType.TRACING, ProgramType.LSM) and helper_id in TRACING_ARGS:
        p = replace(p, args=TRACING_ARGS[helper_id])
    return p


def helper_name(helper_id: int) -> str:
    """The C name (bpf_map_lookup_elem) of a helper id, or "#N" for an id the kernel does not have."""
    p = HELPERS.get(helper_id)
    return p.full_name if p is not None else f"#{helper_id}"


def allowed(helper_id: int, program_type: ProgramType | int) -> bool:
    """Whether a program of `program_type` may call helper `helper_id` (unknown ids: False)."""
    p = HELPERS.get(helper_id)
    return p is not None and p.allowed_in(program_type)
