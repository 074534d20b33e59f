"""Every example is proven safe by pybpf's verifier and by the kernel's; a broken one is refused."""
# ruff: noqa: F811 - the fixtures come from examples_support (no conftest.py: see there)

from __future__ import annotations

from pathlib import Path

import pytest
from examples_support import EXAMPLE_NAMES, example_objects  # noqa: F401

from pybpf.errors import VerifierError
from pybpf.object import load_file

UNCHECKED = """
#include <bpf_helpers.h>
#include <bpf_packet.h>
SEC("xdp") int no_bounds_check(struct xdp_md *ctx) {
    struct ethhdr *eth = (void *)(long)ctx->data;
    return eth->h_proto == 8 ? XDP_DROP : XDP_PASS;   /* read without checking data_end */
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_pybpf_verifier_accepts_example(example_objects: dict[str, Path], name: str) -> None:
    from pybpf.verifier import verify_collection

    results = verify_collection(load_file(example_objects[name]))
    assert results and all(r.accepted and r.processed_insns > 0 for r in results.values())


@pytest.mark.kernel
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_kernel_verifier_accepts_example(example_objects: dict[str, Path], name: str) -> None:
    from pybpf.kernel.kernel_engine import load_collection

    with load_collection(load_file(example_objects[name])) as coll:
        assert set(coll.programs) == set(load_file(example_objects[name]).programs)


def test_unchecked_packet_access_is_rejected(tmp_path: Path) -> None:
    from pybpf.toolchain import compile_c, zig_available
    from pybpf.verifier import verify_collection

    if not zig_available():
        pytest.skip("ziglang is not installed")
    src = tmp_path / "unchecked.c"
    src.write_text(UNCHECKED)
    spec = load_file(compile_c(src, tmp_path / "unchecked.o"))
    with pytest.raises(VerifierError) as info:
        verify_collection(spec)
    assert "invalid access to packet" in str(info.value)
