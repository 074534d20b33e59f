"""Backward function references (lddw rX, func with a negative offset) on every engine and from C."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.abi import ProgramType
from pybpf.engines import Runtime
from pybpf.isa import assemble
from pybpf.isa.instruction import encode
from pybpf.object import load_file
from pybpf.object.spec import CollectionSpec, ProgramSpec
from testlib import scalar

# The callback sits before the sub-program that passes it to bpf_loop: its lddw offset is negative.
BACKWARD = """
    call sub
    exit
cb:
    r0 = *(u64 *)(r2 + 0)
    r0 += r1
    *(u64 *)(r2 + 0) = r0
    r0 = 0
    exit
sub:
    r6 = 0
    *(u64 *)(r10 - 8) = r6
    r1 = 5
    r2 = func(cb)
    r3 = r10
    r3 += -8
    r4 = 0
    call 181
    r0 = *(u64 *)(r10 - 8)
    exit
"""


@pytest.mark.parametrize("engine", ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_backward_function_reference(engine: str) -> None:
    insns = tuple(assemble(BACKWARD, syntax="llvm"))
    lddw = next(i for i in insns if i.opcode == 0x18 and i.src == 4)
    assert lddw.imm & 0x80000000  # the offset is negative
    assert encode([lddw])[12:16] == bytes(4)  # insn[1].imm is 0, as the kernel requires
    spec = CollectionSpec.single(ProgramSpec("p", insns, type=ProgramType.XDP))
    with Runtime(engine, verify=False).load(spec) as coll:
        assert coll.programs["p"].run(bytes(64)).retval == 0 + 1 + 2 + 3 + 4


SOURCE = r"""
#include <bpf_helpers.h>

__u64 seen = 0;

static long add(__u32 index, void *data)
{
	*(__u64 *)data += index;
	return 0;
}

static __attribute__((noinline)) int sum_to(__u32 n)
{
	__u64 sum = 0;
	bpf_loop(n, add, &sum, 0);   /* add is placed before this function: a backward reference */
	seen = sum;
	return 0;
}

SEC("xdp")
int loop_back(struct xdp_md *ctx)
{
	__u64 first = 0;
	bpf_loop(1, add, &first, 0);   /* the entry refers to add first, so add is linked before sum_to */
	sum_to(6);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_elf_callback_relocation_keeps_the_high_word_zero(tmp_path: Path) -> None:
    """clang/zig place static callbacks before their caller: the relocated offset is negative."""
    from pybpf.toolchain import compile_c

    src = tmp_path / "loop.c"
    src.write_text(SOURCE)
    spec = load_file(compile_c(src, tmp_path / "loop.o"))
    prog = spec.programs["loop_back"]
    funcs = [i for i in prog.instructions if i.opcode == 0x18 and i.src == 4]
    assert any(i.imm & 0x80000000 for i in funcs)  # one reference points backwards
    for insn in funcs:
        assert encode([insn])[12:16] == bytes(4)
    with Runtime("jit").load(spec) as coll:  # verified first: the verifier follows the callback
        assert coll.programs["loop_back"].run(bytes(64)).retval == 2
        assert int.from_bytes(scalar(coll.maps[".bss"][0])[:8], "little") == 15
