"""Tail calls from sub-programs do not count toward the 8-frame limit (issue 20), as in the kernel.

The entry program nests four calls and tail-calls from the deepest; the target replaces that frame
and nests five calls of its own (with bpf_loop and bpf_for_each_map_elem callbacks below them):
nine frames at once, which the kernel runs. Its result returns to the sub-program's caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SOURCE = r"""
#include <bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} jmp SEC(".maps");

__u64 trail = 0;

#define LEVEL(name, next, digit)                                        \
static __attribute__((noinline)) int name(struct xdp_md *ctx)          \
{                                                                      \
	trail = trail * 10 + digit;                                        \
	return next(ctx) + 1;                                              \
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pair SEC(".maps");

static long add_step(__u32 index, void *data)
{
	*(__u64 *)data += index + 1;
	return 0;
}

static long add_key(void *map, __u32 *key, __u64 *value, void *data)
{
	*(__u64 *)data += *key + 1;
	return 0;
}

/* the deepest frame: 1 + 2 + 3 from bpf_loop, 1 + 2 from the map walk */
static __attribute__((noinline)) int t_leaf(struct xdp_md *ctx)
{
	__u64 n = 0;

	bpf_loop(3, add_step, &n, 0);
	bpf_for_each_map_elem(&pair, add_key, &n, 0);
	trail = trail * 10 + 9;
	return n;
}
LEVEL(t4, t_leaf, 8)
LEVEL(t3, t4, 7)
LEVEL(t2, t3, 6)
LEVEL(t1, t2, 5)

SEC("xdp")
int target(struct xdp_md *ctx)
{
	return t1(ctx) + 10;
}

static __attribute__((noinline)) int e_leaf(struct xdp_md *ctx)
{
	volatile int fallback = 50;

	trail = trail * 10 + 4;
	bpf_tail_call(ctx, &jmp, 0);
	return fallback;
}
LEVEL(e3, e_leaf, 3)
LEVEL(e2, e3, 2)
LEVEL(e1, e2, 1)

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	return e1(ctx) + 100;
}

char LICENSE[] SEC("license") = "GPL";
"""

# target: t_leaf returns 6 + 3 = 9, four levels add 4, target adds 10 -> 23 in place of e_leaf's 50;
# e3, e2, e1 add 3 and entry 100 -> 126. Every level appends its digit to `trail`.
EXPECTED = (126, 123456789)


def _run(tmp_path: Path, engine: str) -> tuple[int, int]:
    import pybpf.toolchain as toolchain
    from pybpf.engines import Runtime
    from pybpf.object import load_file

    src = tmp_path / "deep.c"
    src.write_text(SOURCE)
    spec = load_file(str(toolchain.compile_c(src, tmp_path / "deep.o")))
    with Runtime(engine).load(spec) as col:  # pybpf's verifier first
        target = col.programs["target"]
        jmp: Any = col.maps["jmp"]
        jmp[0] = target.fd if engine == "kernel" else target  # type: ignore[attr-defined]
        retval = col.programs["entry"].run(bytes(64)).retval
        bss: Any = col.maps[".bss"][0]
        return retval, int.from_bytes(bss[:8], "little")


@pytest.mark.parametrize("engine", ["interp", "jit", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_tail_call_from_deep_subprogram_gets_fresh_frames(tmp_path: Path, engine: str) -> None:
    pytest.importorskip("ziglang")
    assert _run(tmp_path, engine) == EXPECTED


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_own_calls_still_limited_to_eight_frames(engine: str) -> None:
    from pybpf.abi import ProgramType
    from pybpf.engines import Runtime
    from pybpf.errors import RuntimeFault
    from pybpf.isa import assemble
    from pybpf.object.spec import CollectionSpec, ProgramSpec

    # f0 calls f1 ... f7 calls f8: nine frames in one program
    text = "\n".join(f"f{i}:\ncall f{i + 1}\nexit" for i in range(8)) + "\nf8:\nr0 = 1\nexit\n"
    spec = CollectionSpec.single(ProgramSpec("p", tuple(assemble(text, syntax="llvm")), type=ProgramType.XDP))
    with Runtime(engine, verify=False).load(spec) as col, pytest.raises(RuntimeFault, match="call depth"):
        col.programs["p"].run(bytes(64))
