"""Every simple helper prototype against the kernel: a call whose arguments are built from pybpf's
prototype (maps of an accepted type, context, initialised memory only where the prototype says
so, constant sizes, read-only strings) must be accepted by the kernel's verifier."""

from __future__ import annotations

import pytest

from pybpf.abi import ProgramType
from pybpf.helpers import HELPERS

pytestmark = pytest.mark.kernel

UNLOADABLE = (ProgramType.TRACING, ProgramType.LSM, ProgramType.LIRC_MODE2)


def test_prototypes_are_accepted_by_the_kernel() -> None:
    from helpers.gen_availability import settings
    from helpers.proto_probe import probe

    loadable = settings()
    tested = 0
    refused = []
    for helper_id, proto in HELPERS.items():
        types = [t for t in proto.program_types or () if t in loadable and t not in UNLOADABLE]
        if helper_id == 0 or not types:
            continue
        ptype = min(types, key=lambda t: (t != ProgramType.XDP, t != ProgramType.SCHED_CLS, int(t)))
        result = probe(proto, ptype, loadable[ptype])
        if result is None:
            continue
        tested += 1
        accepted, message = result
        if not accepted:
            refused.append(f"{proto} in {ptype.name}: {message}")
    assert not refused, "\n".join(refused)
    assert tested >= 120


SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from helpers.gen_availability import settings
from helpers.proto_probe import probe, is_argument_error
from pybpf.abi import ProgramType
from pybpf.helpers import HELPERS
loadable = settings()
skip = (ProgramType.TRACING, ProgramType.LSM, ProgramType.LIRC_MODE2)
refused, tested = [], 0
for hid, proto in HELPERS.items():
    types = [t for t in proto.program_types if t in loadable and t not in skip]
    if hid == 0 or not types:
        continue
    ptype = min(types, key=lambda t: (t != ProgramType.XDP, t != ProgramType.SCHED_CLS, int(t)))
    result = probe(proto, ptype, loadable[ptype])
    if result is None:
        continue
    tested += 1
    if not result[0] and is_argument_error(result[1]):
        refused.append(str(proto) + ": " + result[1])
print(json.dumps({{"tested": tested, "refused": refused}}))
"""


def test_uninitialised_memory_claims_match_the_kernel() -> None:
    """Without CAP_PERFMON the kernel refuses uninitialised stack: the catalogue's "uninit" claims hold."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    capsh = shutil.which("capsh")
    if capsh is None or os.geteuid() != 0:
        pytest.skip("needs root and capsh to drop CAP_PERFMON")
    root = Path(__file__).resolve().parents[2]
    script = SCRIPT.format(tests=str(root / "tests"))
    out = subprocess.run(
        [capsh, "--drop=cap_perfmon,cap_sys_admin", "--", "-c", 'exec "$@"', "sh", sys.executable, "-c", script],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(root / "src")},
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert not result["refused"], "\n".join(result["refused"])
    assert result["tested"] >= 100


def test_read_only_claims_match_the_kernel() -> None:
    """Arguments the catalogue calls read-only accept a frozen read-only map value in the kernel."""
    from helpers.gen_availability import settings
    from helpers.proto_probe import probe

    loadable = settings()
    tested = 0
    refused = []
    for helper_id, proto in HELPERS.items():
        types = [t for t in proto.program_types or () if t in loadable and t not in UNLOADABLE]
        if helper_id == 0 or not types:
            continue
        ptype = min(types, key=lambda t: (t != ProgramType.XDP, t != ProgramType.SCHED_CLS, int(t)))
        result = probe(proto, ptype, loadable[ptype], rdonly=True)
        if result is None:
            continue
        tested += 1
        if not result[0]:
            refused.append(f"{proto} in {ptype.name}: {result[1]}")
    assert not refused, "\n".join(refused)
    assert tested >= 20


KERNEL_REG_TYPE = {
    "RET_INTEGER": "scalar",
    "RET_VOID": "!read_ok",
    "RET_PTR_TO_MAP_VALUE_OR_NULL": "map_value_or_null",
    "RET_PTR_TO_SOCKET_OR_NULL": "sock_or_null",
    "RET_PTR_TO_TCP_SOCK_OR_NULL": "tcp_sock_or_null",
    "RET_PTR_TO_SOCK_COMMON_OR_NULL": "sock_common_or_null",
    "RET_PTR_TO_BTF_ID": "accepted",  # a trusted kernel object: reading a byte of it is fine
    "RET_PTR_TO_RINGBUF_MEM_OR_NULL": "ringbuf_mem_or_null",
}


def test_return_types_match_the_kernel() -> None:
    """Reading a byte through r0 after the call makes the kernel name r0's type."""
    import re

    from helpers.gen_availability import settings
    from helpers.proto_probe import probe

    loadable = settings()
    tested = 0
    wrong = []
    for helper_id, proto in HELPERS.items():
        types = [t for t in proto.program_types or () if t in loadable and t not in UNLOADABLE]
        if helper_id == 0 or not types or proto.ret.name not in KERNEL_REG_TYPE:
            continue
        ptype = min(types, key=lambda t: (t != ProgramType.XDP, t != ProgramType.SCHED_CLS, int(t)))
        result = probe(proto, ptype, loadable[ptype], deref_r0=True)
        if result is None:
            continue
        tested += 1
        accepted, message = result
        found = re.search(r"R0 invalid mem access '([^']+)'|R0 (!read_ok)", message)
        kind = "accepted" if accepted else (found.group(1) or found.group(2)) if found else message
        if kind != KERNEL_REG_TYPE[proto.ret.name]:
            wrong.append(f"{proto}: kernel says r0 is {kind}")
    assert not wrong, "\n".join(wrong)
    assert tested >= 120


def test_map_type_compatibility_matches_the_kernel() -> None:
    """Each map helper with each creatable map type: "cannot pass map_type" exactly where
    pybpf.helpers.map_compatible says no."""
    from helpers.gen_availability import settings
    from helpers.proto_probe import MAP_SHAPES, probe
    from pybpf.helpers import ArgType, map_compatible

    loadable = settings()
    tested = 0
    wrong = []
    for helper_id, proto in HELPERS.items():
        types = [t for t in proto.program_types or () if t in loadable and t not in UNLOADABLE]
        if ArgType.ARG_CONST_MAP_PTR not in proto.args or not types:
            continue
        ptype = min(types, key=lambda t: (t != ProgramType.XDP, t != ProgramType.SCHED_CLS, int(t)))
        for map_type in MAP_SHAPES:
            result = probe(proto, ptype, loadable[ptype], map_type=map_type)
            if result is None:
                continue
            tested += 1
            accepted, message = result
            refused = "cannot pass map_type" in message
            ours = map_compatible(map_type, helper_id)
            if (accepted and not ours) or (refused and ours):
                wrong.append(
                    f"{proto.full_name} with {map_type.name}: kernel {message}, pybpf {ours}"
                )
    assert not wrong, "\n".join(wrong)
    assert tested >= 300


PACKET_MEMORY = {
    "ARG_PTR_TO_MAP_KEY", "ARG_PTR_TO_MAP_VALUE", "ARG_PTR_TO_UNINIT_MAP_VALUE", "ARG_PTR_TO_MEM",
    "ARG_PTR_TO_MEM_RDONLY", "ARG_PTR_TO_MEM_OR_NULL", "ARG_PTR_TO_MEM_RDONLY_OR_NULL", "ARG_PTR_TO_UNINIT_MEM",
    "ARG_PTR_TO_LONG", "ARG_PTR_TO_INT", "ARG_PTR_TO_FIXED_SIZE_MEM",
}  # fmt: skip


def test_packet_access_flags_match_the_kernel() -> None:
    """pkt_access: a packet pointer as a memory argument is refused exactly when the flag is off."""
    from helpers.gen_availability import settings
    from helpers.proto_probe import PACKET_FIELDS, probe

    loadable = settings()
    tested = 0
    wrong = []
    for proto in HELPERS.values():
        types = [t for t in proto.program_types or () if t in PACKET_FIELDS]
        if not types:
            continue
        ptype = min(types, key=lambda t: (t != ProgramType.XDP, int(t)))
        for i, arg in enumerate(proto.args):
            if arg.name not in PACKET_MEMORY:
                continue
            result = probe(proto, ptype, loadable[ptype], packet_arg=i)
            if result is None:
                continue
            tested += 1
            denied = "helper access to the packet is not allowed" in result[1]
            if (result[0] and not proto.pkt_access) or (denied and proto.pkt_access):
                wrong.append(
                    f"{proto.full_name} arg {i + 1}: kernel {result[1]}, pkt_access {proto.pkt_access}"
                )
    assert not wrong, "\n".join(wrong)
    assert tested >= 40


def test_changes_pkt_data_matches_the_kernel() -> None:
    """changes_pkt_data: a packet pointer checked before the call is invalid after it exactly then."""
    from helpers.gen_availability import settings
    from helpers.proto_probe import PACKET_FIELDS, probe

    loadable = settings()
    tested = 0
    wrong = []
    for proto in HELPERS.values():
        for ptype in sorted(t for t in proto.program_types or () if t in PACKET_FIELDS):
            result = probe(proto, ptype, loadable[ptype], packet_after=True)
            if result is None:
                continue
            tested += 1
            invalidated = "R7 invalid mem access" in result[1]
            if (result[0] and proto.changes_pkt_data) or (
                invalidated and not proto.changes_pkt_data
            ):
                wrong.append(f"{proto.full_name} in {ptype.name}: kernel {result[1]}")
    assert not wrong, "\n".join(wrong)
    assert tested >= 150


def test_gpl_only_matches_the_kernel() -> None:
    """A non-GPL program is refused "GPL-restricted" helpers exactly where gpl_only says so."""
    from helpers.gen_availability import settings
    from helpers.proto_probe import probe

    loadable = settings()
    tested = 0
    wrong = []
    for helper_id, proto in HELPERS.items():
        types = [t for t in proto.program_types or () if t in loadable and t not in UNLOADABLE]
        if helper_id == 0 or not types:
            continue
        ptype = min(types, key=lambda t: (t != ProgramType.XDP, t != ProgramType.SCHED_CLS, int(t)))
        result = probe(
            proto, ptype, loadable[ptype], license=b"Dual MIT/BSD", deref_r0=proto.acquires
        )
        if result is None:
            continue
        tested += 1
        restricted = "GPL-restricted" in result[1]
        if restricted != proto.gpl_only:
            wrong.append(f"{proto.full_name}: kernel {result[1]!r}, gpl_only {proto.gpl_only}")
    assert not wrong, "\n".join(wrong)
    assert tested >= 120
