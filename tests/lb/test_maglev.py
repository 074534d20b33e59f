"""Maglev table properties: weighted shares, minimal disruption, stability."""

from __future__ import annotations

import collections
import ipaddress

import pytest

from pybpf.lb.maglev import build_table, permutation

SIZE = 65537


def backends(n: int, weights: list[int] | None = None) -> list[tuple[bytes, int]]:
    weights = weights or [1] * n
    return [(ipaddress.ip_address(f"10.1.{i // 250}.{i % 250 + 1}").packed, w)
            for i, w in zip(range(n), weights, strict=True)]


def test_permutation_is_complete_for_a_prime_size() -> None:
    offset, skip = permutation(b"\x0a\x01\x00\x01", 251)
    assert len({(offset + j * skip) % 251 for j in range(251)}) == 251


def test_every_slot_is_filled_and_shares_follow_weights() -> None:
    weights = [1, 2, 3, 4]
    table = build_table(backends(4, weights), SIZE)
    assert -1 not in table
    counts = collections.Counter(table)
    for pos, w in enumerate(weights):
        share = counts[pos] / SIZE
        assert abs(share - w / sum(weights)) < 0.02, (pos, share)


def test_equal_weights_give_equal_shares() -> None:
    counts = collections.Counter(build_table(backends(7), SIZE))
    assert max(counts.values()) - min(counts.values()) <= 7


@pytest.mark.parametrize("n", [5, 10])
def test_removing_one_real_moves_only_its_flows(n: int) -> None:
    full = backends(n)
    before = [full[i][0] for i in build_table(full, SIZE)]
    removed = full[n // 2][0]
    rest = [b for b in full if b[0] != removed]
    after = [rest[i][0] for i in build_table(rest, SIZE)]
    moved = sum(1 for x, y in zip(before, after, strict=True) if x != y)
    moved_others = sum(1 for x, y in zip(before, after, strict=True) if x != y and x != removed)
    # about 1/N of the table moves: the removed real's slots, and almost nothing else
    assert abs(moved / SIZE - 1 / n) < 0.02
    assert moved_others / SIZE < 0.01
    assert before.count(removed) == moved - moved_others


def test_table_is_deterministic_and_order_independent() -> None:
    b = backends(6, [1, 1, 2, 1, 3, 1])
    first = [b[i][0] for i in build_table(b, SIZE)]
    again = [b[i][0] for i in build_table(b, SIZE)]
    shuffled = list(reversed(b))
    other = [shuffled[i][0] for i in build_table(shuffled, SIZE)]
    assert first == again
    # order of the list matters only through turn order: most slots agree
    assert sum(1 for x, y in zip(first, other, strict=True) if x == y) / SIZE > 0.9


def test_no_backends_and_bad_sizes() -> None:
    assert build_table([], 7) == [-1] * 7
    with pytest.raises(ValueError):
        build_table(backends(2), 65536)
