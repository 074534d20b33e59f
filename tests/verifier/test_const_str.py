"""ARG_PTR_TO_CONST_STR and bpf_snprintf's load-time format check, against the kernel's verdicts.

tests/data/verifier/c/const_str.c is part of the labelled C corpus (tests/verifier/test_corpus.py);
here its verdicts are checked by name, and against the live kernel where bpf() is permitted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.errors import BpfError
from pybpf.helpers import bprintf
from pybpf.object import load_file
from pybpf.object.spec import CollectionSpec
from pybpf.verifier import verify
from testlib import ROOT

SOURCE = ROOT / "tests" / "data" / "verifier" / "c" / "const_str.c"
ACCEPTED = {"snprintf_ok", "snprintf_extra_args", "snprintf_pointers", "strncmp_const"}
REJECTED = {
    "snprintf_bad_conv": "Invalid format string",
    "snprintf_too_few_args": "Invalid format string",
    "snprintf_bad_ptr": "Invalid format string",
    "snprintf_glued_str": "Invalid format string",
    "snprintf_writable_fmt": "R3 does not point to a readonly map'",
    "snprintf_stack_fmt": "R3 type=fp expected=map_value",
    "snprintf_variable_fmt": "R3 is not a constant address'",
}

ODD_DATA_LEN = r"""
#include <bpf_helpers.h>

char out[16] = {};
static const char fmt[] = "%d %d";

SEC("tracepoint/syscalls/sys_enter_getppid")
int odd_data_len(void *ctx)
{
	__u64 data[2] = {1, 2};

	return bpf_snprintf(out, sizeof(out), fmt, data, 12);  /* data must be whole u64s */
}

char LICENSE[] SEC("license") = "GPL";
"""


def _verdicts(spec: CollectionSpec) -> dict[str, str]:
    out = {}
    for name, prog in spec.programs.items():
        try:
            verify(prog, maps=spec.maps)
            out[name] = ""
        except BpfError as exc:
            out[name] = getattr(exc, "reason", str(exc))
    return out


def _compile(path: Path) -> CollectionSpec:
    pytest.importorskip("ziglang")
    from pybpf.toolchain import compile_c

    return load_file(compile_c(path))


def test_const_str_verdicts() -> None:
    mine = _verdicts(_compile(SOURCE))
    assert {n for n, msg in mine.items() if not msg} == ACCEPTED
    assert {n: msg for n, msg in mine.items() if msg} == REJECTED


def test_snprintf_data_must_be_whole_u64s(tmp_path: Path) -> None:
    src = tmp_path / "odd.c"
    src.write_text(ODD_DATA_LEN)
    assert "not a multiple of 8" in _verdicts(_compile(src))["odd_data_len"]


@pytest.mark.kernel
def test_same_verdicts_as_the_kernel(tmp_path: Path) -> None:
    from pybpf.kernel.verdict import kernel_verdicts

    src = tmp_path / "odd.c"
    src.write_text(ODD_DATA_LEN)
    for spec in (_compile(SOURCE), _compile(src)):
        kernel = kernel_verdicts(spec)
        mine = _verdicts(spec)
        for name, v in kernel.items():
            assert v.accepted == (not mine[name]), (name, v.message, mine[name])
            if name in REJECTED:
                assert REJECTED[name] in v.log


TAKES = [
    (b"%d %i %u %x %X %ld %lld %llu %c %s %%\0", 10, 10),
    (b"%-08d|%+5i|% x\0", 3, 3),
    (b"%p %pK %px %ps %pS %pB %pks %pus %pI4 %pi6\0", 10, 10),
    (b"no conversions\0", 0, 0),
    (b"%d\0", 2, 1),
    ("caf\u00e9 %d\0".encode(), 1, 1),  # UTF-8 text
]
REFUSES = [b"%q\0", b"%d %d\0", b"%sx\0", b"%pZ\0", b"%pI5\0", b"a\x01b\0", b"a\x7f %d\0", b"%\xe9\0", b"%lq\0"]


@pytest.mark.parametrize(("fmt", "args", "count"), TAKES)
def test_formats_the_kernel_takes(fmt: bytes, args: int, count: int) -> None:
    assert bprintf.check(fmt, args) == count


@pytest.mark.parametrize("fmt", [*REFUSES, b"%d"])  # the last one has no NUL
def test_formats_the_kernel_refuses(fmt: bytes) -> None:
    with pytest.raises(bprintf.FormatError):
        bprintf.check(fmt, 1)


def _snprintf_program(fmt: bytes, args: int) -> CollectionSpec:
    """bpf_snprintf(r10 - 64, 64, .rodata, r10 - 160, 8 * args) with zeroed u64 arguments."""
    from pybpf.abi import MapType, ProgramType
    from pybpf.isa import assemble
    from pybpf.object.spec import MapReference, MapSpec, ProgramSpec

    zero = "\n".join(f"*(u64 *)(r10 - {160 - 8 * k}) = 0" for k in range(12))
    text = f"""{zero}
        r1 = r10
        r1 += -64
        r2 = 64
        r3 = 0 ll
        r4 = r10
        r4 += -160
        r5 = {8 * args}
        call 165
        r0 = 0
        exit"""
    insns = tuple(assemble(text))
    lddw = sum(i.slots for i in insns[:12 + 3])
    rodata = MapSpec(".rodata", MapType.ARRAY, 4, len(fmt), 1, contents=((bytes(4), fmt),), frozen=True)
    prog = ProgramSpec("fmt", insns, type=ProgramType.TRACEPOINT,
                       map_references=(MapReference(lddw, ".rodata", "value", 0),))
    return CollectionSpec(programs={"fmt": prog}, maps={".rodata": rodata})


@pytest.mark.kernel
@pytest.mark.parametrize(("fmt", "args", "ok"), [(f, a, True) for f, a, _ in TAKES] + [(f, 1, False) for f in REFUSES])
def test_formats_as_the_kernel_judges_them(fmt: bytes, args: int, ok: bool) -> None:
    from pybpf.kernel.verdict import kernel_verdicts

    spec = _snprintf_program(fmt, args)
    assert kernel_verdicts(spec)["fmt"].accepted is ok
    assert _verdicts(spec)["fmt"] == ("" if ok else "Invalid format string")
