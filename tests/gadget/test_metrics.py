"""Log2 histogram maps as Prometheus histograms: bucket bounds are the upper ends of bpftrace's slots."""

from __future__ import annotations

from pybpf.gadget.metrics import histogram_samples, slot_upper_bound


def test_slot_upper_bounds_follow_bpftrace_slots() -> None:
    # slot 0: negatives; slot 1: 0; slot k + 2: [2^k, 2^(k+1))
    assert [slot_upper_bound(s) for s in range(6)] == [-1, 0, 1, 3, 7, 15]


def test_histogram_samples_are_cumulative_and_end_with_inf() -> None:
    assert histogram_samples({1: 2, 3: 5}) == [("-1", 0.0), ("0", 2.0), ("1", 2.0), ("3", 7.0), ("+Inf", 7.0)]
    assert histogram_samples({}) == [("-1", 0.0), ("+Inf", 0.0)]
