"""USDT notes: argument specs of x86-64 and arm64 (register, memory, indexed, constant) and the notes of an ELF."""

from __future__ import annotations

import pytest

from pybpf.errors import LoadError
from pybpf.object.stapsdt import UsdtArg, parse_arg, parse_args


def test_x86_64_argument_specs() -> None:
    assert parse_arg("-4@%eax") == UsdtArg(4, True, "reg", "rax", 0, "-4@%eax")
    assert parse_arg("8@-16(%rbp)") == UsdtArg(8, False, "mem", "rbp", -16, "8@-16(%rbp)")
    assert parse_arg("-4@$5") == UsdtArg(4, True, "const", "", 5, "-4@$5")
    assert parse_arg("8@$-1").offset == -1
    assert parse_arg("1@%sil").register == "rsi" and parse_arg("2@%r10w").register == "r10"
    sib = parse_arg("-4@-1204(%rbp,%rax,8)")
    assert (sib.kind, sib.register, sib.index_register, sib.scale, sib.offset) == ("sib", "rbp", "rax", 8, -1204)
    assert (sib.pt_regs_offset, sib.index_pt_regs_offset) == (32, 80)  # struct pt_regs: rbp, rax
    assert parse_arg("8@(%rdx,%rcx)").scale == 1
    assert parse_arg("4@0x10(%rdi)").offset == 16
    for bad in ("4@%xmm0", "3@%eax", "4@counter(%rip)", "eax", "4@(%rax,%rbx,3)"):
        with pytest.raises(LoadError):
            parse_arg(bad)


def test_arm64_argument_specs() -> None:
    arm = "aarch64"
    assert parse_arg("-4@x0", arm) == UsdtArg(4, True, "reg", "x0", 0, "-4@x0", machine=arm)
    assert parse_arg("-4@w3", arm).register == "x3"
    mem = parse_arg("8@[sp, 16]", arm)
    assert (mem.kind, mem.register, mem.offset, mem.pt_regs_offset) == ("mem", "sp", 16, 248)
    assert parse_arg("8@[x29]", arm).offset == 0 and parse_arg("8@[x29]", arm).pt_regs_offset == 29 * 8
    assert parse_arg("4@5", arm) == UsdtArg(4, False, "const", "", 5, "4@5", machine=arm)
    assert parse_arg("-8@-96", arm).offset == -96
    for bad in ("4@x31", "4@v0", "4@[q1, 8]"):
        with pytest.raises(LoadError):
            parse_arg(bad, arm)
    # memory operands hold a space: the argument string is split on SIZE@ tokens, not on blanks
    assert [a.kind for a in parse_args("-4@x0 8@[sp, 16] 4@5", arm)] == ["reg", "mem", "const"]


def test_argument_strings() -> None:
    assert parse_args("") == ()
    assert [a.kind for a in parse_args("-4@%edi 8@%rsi 4@$1")] == ["reg", "reg", "const"]
    with pytest.raises(LoadError, match="at most 12"):
        parse_args(" ".join(["4@$1"] * 13))
    with pytest.raises(LoadError):
        parse_args("-4@%edi junk")


APP_C = r"""
#define NOTE(name, args) "990: nop\n.pushsection .note.stapsdt,\"?\",\"note\"\n.balign 4\n" \
    ".4byte 992f-991f, 994f-993f, 3\n991: .asciz \"stapsdt\"\n992: .balign 4\n993: .8byte 990b\n" \
    ".8byte 0\n.8byte 0\n.asciz \"p\"\n.asciz \"" name "\"\n.asciz \"" args "\"\n994: .balign 4\n" \
    ".popsection\n"
void _start(void) {
    __asm__ __volatile__(NOTE("good", "-4@%edi") NOTE("bad", "4@%xmm0") "hlt\n");
}
"""


def test_a_note_with_unreadable_arguments_does_not_hide_the_others(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from pybpf.kernel.usdt import read_probes
    from pybpf.toolchain import zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed (pip install ziglang)")
    (tmp_path / "app.c").write_text(APP_C)
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-none", "-nostdlib", "-static",
           "-o", str(tmp_path / "app"), str(tmp_path / "app.c")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    probes = {p.name: p for p in read_probes(str(tmp_path / "app"))}
    assert probes["good"].checked_args()[0].register == "rdi"
    data = (tmp_path / "app").read_bytes()
    assert data[probes["good"].offset] == data[probes["bad"].offset] == 0x90  # each probe's nop
    with pytest.raises(LoadError, match="p:bad.*xmm0"):
        probes["bad"].checked_args()
