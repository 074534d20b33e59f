"""Memory a helper lends a callback (for_each_map_elem's key) is gone after the call, on every engine.

Without the verifier a callback can keep a pointer to its key; the next iteration must fault on
it (`unmapped`) as the interpreter does, never read the freed buffer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.engines import Runtime
from pybpf.errors import RuntimeFault
from pybpf.object import load_file
from pybpf.toolchain import compile_c

SOURCE = r"""
#include <bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

__u64 saved = 0;
__u64 leaked = 0;

static long keep_key(void *map, __u32 *key, __u64 *value, void *data)
{
	leaked += *key;                           /* the JIT caches this key's region */
	if (saved)
		leaked += *(volatile __u32 *)saved;   /* the previous iteration's key: freed by now */
	saved = (__u64)key;
	return 0;
}

SEC("xdp")
int walk(struct xdp_md *ctx)
{
	bpf_for_each_map_elem(&values, keep_key, 0, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lifetime")
    src = out / "walk.c"
    src.write_text(SOURCE)
    return compile_c(src, out / "walk.o")


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_a_kept_key_pointer_faults_on_the_next_iteration(obj: Path, engine: str) -> None:
    spec = load_file(obj)
    with Runtime(engine, verify=False).load(spec) as coll:
        for k in (1, 2, 3):
            coll.maps["values"][k] = k * 10
        with pytest.raises(RuntimeFault, match="unmapped|not mapped|outside"):
            coll.programs["walk"].run(bytes(64))


DRAIN = r"""
#include <bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} requests SEC(".maps");

__u64 saved = 0;

static long keep_dynptr(struct bpf_dynptr *sample, void *data)
{
	*(volatile __u64 *)sample;                 /* the JIT caches the dynptr's region */
	if (saved) {                                /* write 16 bytes through the previous call's dynptr */
		((volatile __u64 *)saved)[0] = 0x4141414141414141ULL;
		((volatile __u64 *)saved)[1] = 0x4242424242424242ULL;
	}
	saved = (__u64)sample;
	return 0;
}

SEC("xdp")
int drain(struct xdp_md *ctx)
{
	bpf_user_ringbuf_drain(&requests, keep_dynptr, 0, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_a_kept_dynptr_faults_instead_of_writing_freed_memory(tmp_path: Path, engine: str) -> None:
    src = tmp_path / "drain.c"
    src.write_text(DRAIN)
    spec = load_file(compile_c(src, tmp_path / "drain.o"))
    with Runtime(engine, verify=False).load(spec) as coll:
        ring = coll.maps["requests"]
        for i in range(3):
            ring.push(bytes([i]) * 8)  # type: ignore[attr-defined]
        with pytest.raises(RuntimeFault, match="unmapped|not mapped|outside"):
            coll.programs["drain"].run(bytes(64))
