"""The clock helpers read the same clocks as the kernel's (same bases, same jiffies)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pybpf.engines import Runtime
from pybpf.vm.helpers_impl.time_ops import kernel_hz

pytestmark = pytest.mark.kernel

SOURCE = Path(__file__).parent / "data" / "clocks.c"


def read_clocks(engine: str, spec: object) -> tuple[int, int, list[int]]:
    with Runtime(engine, verify=False).load(spec) as coll:  # type: ignore[arg-type]
        before = time.monotonic_ns()
        coll.programs["t"].run(bytes(64))
        after = time.monotonic_ns()
        return before, after, [int.from_bytes(coll.maps["out"][i], "little") for i in range(5)]  # type: ignore[arg-type]


def test_clocks_match_kernel(tmp_path: Path) -> None:
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed")
    from pybpf.object import load_file

    spec = load_file(compile_c(SOURCE, tmp_path / "clocks.o"))
    hz = kernel_hz()
    kb, ka, (k_mono, k_boot, _k_coarse, k_tai, k_jiffies) = read_clocks("kernel", spec)
    ib, ia, (i_mono, i_boot, _i_coarse, i_tai, i_jiffies) = read_clocks("interp", spec)
    for before, after, mono in ((kb, ka, k_mono), (ib, ia, i_mono)):
        assert before <= mono <= after  # bpf_ktime_get_ns is CLOCK_MONOTONIC
    assert k_boot >= k_mono and i_boot >= i_mono
    # TAI - MONOTONIC is one constant for both (up to the time between the two helper calls)
    assert abs((i_tai - i_mono) - (k_tai - k_mono)) <= (i_tai - k_tai) + 1
    # jiffies count the same ticks: ours, read later, are not behind the kernel's; they are ahead
    # by about the ticks between the two runs (the kernel's counter may lag while CPUs are idle,
    # so only a bound of one second, HZ ticks, is asserted)
    ticks = i_mono * hz // 1_000_000_000 - k_mono * hz // 1_000_000_000
    assert 0 <= i_jiffies - k_jiffies <= ticks + hz
