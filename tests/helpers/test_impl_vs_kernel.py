"""Helper implementations against the Linux kernel: the same program, run on the interpreter and in
the kernel (BPF_PROG_TEST_RUN), leaves the same results (r0 and output bytes) in a map."""

from __future__ import annotations

import struct

import pytest

from pybpf.abi import MapType, ProgramType
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.isa.instruction import iter_slots
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

pytestmark = pytest.mark.kernel

OUT_SIZE = 8 + 64
BPF_F_RDONLY_PROG = 1 << 7
PACKET = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x00" + bytes(50)


def arg(value: int | str) -> list[str]:
    """Instructions loading one argument into r9: an int, "D+n" (data), "O+n" (output), "R+n" (rodata)."""
    if isinstance(value, int):
        return [f"r9 = {value} ll"]
    area, _, off = value.partition("+")
    if area == "R":
        return [f"r9 = 0 ll ; rodata {off}"]
    base = {"D": -128, "O": -192}[area]
    return ["r9 = r10", f"r9 += {base + int(off)}"]


def program(helper: int, args: list[int | str], data: bytes) -> tuple[ProgramSpec, MapSpec]:
    data = data.ljust(64, b"\0")
    lines = ["*(u32 *)(r10 - 4) = 0", "r2 = r10", "r2 += -4", "r1 = 0 ll ; out", "call 1",
             "if r0 == 0 goto +1000", "r6 = r0"]  # fmt: skip
    for i in range(8):
        chunk = int.from_bytes(data[8 * i : 8 * i + 8], "little")
        lines += [f"r1 = {chunk} ll", f"*(u64 *)(r10 - {128 - 8 * i}) = r1"]
        lines += ["r1 = 0", f"*(u64 *)(r10 - {192 - 8 * i}) = r1"]
    for reg, value in enumerate(args, start=1):
        lines += arg(value) + [f"r{reg} = r9"]
    lines += [f"call {helper}", "*(u64 *)(r6 + 0) = r0"]
    for i in range(8):
        lines += [f"r1 = *(u64 *)(r10 - {192 - 8 * i})", f"*(u64 *)(r6 + {8 + 8 * i}) = r1"]
    lines += ["r0 = 2", "exit"]
    exit_at = len(lines) - 2
    text = "\n".join(lines)
    insns = assemble(text.replace("+1000", f"+{0}"), syntax="llvm")
    # fix the NULL check to jump to the final "r0 = 2": count slots between it and the end
    slots = list(iter_slots(insns))
    jump_index = next(i for i, (_, insn) in enumerate(slots) if insn.opcode == 0x15)
    jump_pc = slots[jump_index][0]
    target_pc = slots[exit_at][0]
    insns[jump_index] = insns[jump_index].replace(off=target_pc - jump_pc - 1)
    refs = []
    comments = [line for line in lines if line.endswith("ll") or "; " in line]
    lddw_pcs = [pc for pc, insn in slots if insn.opcode == 0x18]
    for pc, line in zip(lddw_pcs, comments, strict=True):
        if line.endswith("; out"):
            refs.append(MapReference(pc=pc, map_name="out"))
        elif "; rodata" in line:
            refs.append(
                MapReference(pc=pc, map_name=".rodata", kind="value", offset=int(line.split()[-1]))
            )
    spec = ProgramSpec(
        "helper_test", tuple(insns), type=ProgramType.XDP, map_references=tuple(refs)
    )
    return spec, MapSpec("out", MapType.ARRAY, 4, OUT_SIZE, 1)


def run(
    engine: str, helper: int, args: list[int | str], data: bytes = b"", rodata: bytes = b""
) -> bytes:
    prog, out = program(helper, args, data)
    ro = MapSpec(
        ".rodata", MapType.ARRAY, 4, 64, 1, flags=BPF_F_RDONLY_PROG,
        contents=((bytes(4), rodata.ljust(64, b"\0")),), frozen=True,
    )  # fmt: skip
    spec = CollectionSpec(programs={"helper_test": prog}, maps={"out": out, ".rodata": ro})
    with Runtime(engine, verify=False).load(spec) as coll:
        coll.programs["helper_test"].run(PACKET)
        value = coll.maps["out"][0]
        assert isinstance(value, bytes)
        return value


def both(
    helper: int, args: list[int | str], data: bytes = b"", rodata: bytes = b""
) -> tuple[int, bytes]:
    kernel = run("kernel", helper, args, data, rodata)
    ours = run("interp", helper, args, data, rodata)
    assert ours == kernel
    return struct.unpack("<Q", kernel[:8])[0], kernel[8:]


STRTOX_CASES = [
    b"123", b"  -42xyz", b"0x1F", b"017", b"019", b"0xg", b"", b"   ", b"-", b"+5",
    b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808",
    b"18446744073709551615", b"18446744073709551616", b"\t\n 7", b"0X10",
]  # fmt: skip


@pytest.mark.parametrize("text", STRTOX_CASES)
@pytest.mark.parametrize("flags", [0, 10, 16])
@pytest.mark.parametrize("helper", [105, 106])
def test_strtol_strtoul_match_kernel(helper: int, flags: int, text: bytes) -> None:
    both(helper, ["D+0", max(len(text), 1), flags, "O+0"], text)


def test_strtol_bad_flags_match_kernel() -> None:
    for flags in (7, 0x20, 8):
        both(105, ["D+0", 3, flags, "O+0"], b"777")


@pytest.mark.parametrize(
    ("from_words", "to_words", "seed"),
    [([1], [2], 0), ([], [0xFFFFFFFF, 2, 0x10], 5), ([0x12345678, 0x9ABCDEF0], [0x0FEDCBA9, 0x87654321], 0xFFFF),
     ([0xFFFFFFFF] * 4, [], 0xFFFFFFFF), ([0] * 2, [0] * 2, 0)],
)  # fmt: skip
def test_csum_diff_matches_kernel(from_words: list[int], to_words: list[int], seed: int) -> None:
    data = struct.pack(f"<{len(from_words)}I", *from_words) + struct.pack(
        f"<{len(to_words)}I", *to_words
    )
    frm = "D+0" if from_words else 0
    to = f"D+{4 * len(from_words)}" if to_words else 0
    both(28, [frm, 4 * len(from_words), to, 4 * len(to_words), seed], data)


@pytest.mark.parametrize(
    ("from_size", "to_size", "seed"),
    [
        (3, 4, 0),
        (4, 6, 0),
        (1, 0, 0),
        (0, 7, 5),
        (5, 5, 0xFFFF),
        (30, 31, 0x12345678),
        (0, 32, 1),
        (17, 9, 3),
    ],
)
def test_csum_diff_odd_sizes_match_kernel(from_size: int, to_size: int, seed: int) -> None:
    """Since Linux 6.13 any size is accepted; a partial word counts as zero-padded."""
    data = bytes(range(1, 65))
    frm = "D+0" if from_size else 0
    to = "D+32" if to_size else 0
    both(28, [frm, from_size, to, to_size, seed], data)


@pytest.mark.parametrize(
    ("s1", "s2"),
    [(b"hello", b"hello"), (b"hello", b"help"), (b"abc", b"abd"), (b"abc", b"ab"), (b"ab\0cd", b"ab"),
     (b"\xff", b"\x01")],
)  # fmt: skip
def test_strncmp_matches_kernel(s1: bytes, s2: bytes) -> None:
    for size in (1, len(s1), len(s1) + 1):
        both(182, ["D+0", size, "R+0"], s1, s2 + b"\0")


@pytest.mark.parametrize(
    ("fmt", "values"),
    [(b"n=%d x=%lx", [7, 0xBEEF]), (b"%5d|%-5u|%05x", [-3 & (2**64 - 1), 42, 0xAB]),
     (b"%c%c%c", [72, 105, 33]), (b"100%%", []), (b"%llu %lld", [2**64 - 1, 2**63]),
     (b"%+d % d %X", [5, 6, 0xABC]), (b"%-12lx|", [0xDEAD]), ("caf\u00e9 %d \u2713".encode(), [3])],
)  # fmt: skip
def test_snprintf_matches_kernel(fmt: bytes, values: list[int]) -> None:
    # (pointer conversions, %s and %pI4, are checked against hand-written output in test_impl_printk)
    array = b"".join(struct.pack("<Q", v) for v in values)
    rc, out = both(165, ["O+0", 64, "R+0", "D+0" if array else 0, len(array)], array, fmt + b"\0")
    assert rc == len(out.split(b"\0", 1)[0]) + 1


@pytest.mark.parametrize(
    ("fmt", "values"), [(b"%d %d", [1]), (b"%q", [1]), (b"%hd", [1]), (b"%sx", [0])]
)
def test_snprintf_bad_formats(fmt: bytes, values: list[int]) -> None:
    """The kernel refuses a constant bad format at load time; the runtime helper says -EINVAL."""
    from pybpf.errors import VerifierError

    array = b"".join(struct.pack("<Q", v) for v in values)
    args: list[int | str] = ["O+0", 64, "R+0", "D+0", len(array)]
    with pytest.raises(VerifierError, match="Invalid format string"):
        run("kernel", 165, args, array, fmt + b"\0")
    assert struct.unpack("<Q", run("interp", 165, args, array, fmt + b"\0")[:8])[0] == 2**64 - 22


def test_trace_printk_return_value_matches_kernel() -> None:
    fmt = b"pybpf test %d %u\n\0"
    both(6, ["R+0", len(fmt), 5, 7], b"", fmt)


@pytest.mark.parametrize(
    ("fmt", "values"),
    [(b"%999999999d%999999999d", [1, 2]), (b"%-99999999x|%099999999lld", [0xAB, 2**63]),
     (b"%8388608c", [65]), (b"%30d", [-5 & (2**64 - 1)])],
)  # fmt: skip
def test_snprintf_huge_widths_match_kernel(fmt: bytes, values: list[int]) -> None:
    """Field widths are clamped as vsnprintf clamps them and never built beyond the buffer (issue: 4 GB)."""
    array = b"".join(struct.pack("<Q", v) for v in values)
    both(165, ["O+0", 64, "R+0", "D+0", len(array)], array, fmt + b"\0")


def test_trace_printk_huge_width_matches_kernel() -> None:
    fmt = b"%999999999d %999999999d\n\0"
    both(6, ["R+0", len(fmt), 5, 7], b"", fmt)
