"""Weighted Maglev consistent hashing (Eisenbud et al., NSDI 2016): the lookup table of a VIP.

Each backend walks its own permutation of the table's slots (offset and skip from a hash of its
address) and claims the next free slot on its turns; a backend of weight w gets w turns for every
turn of a weight-1 backend, so its share of the table is proportional to its weight. The table
size M is a prime well above the backend count, which makes every permutation complete and keeps
the slots that move when a backend joins or leaves close to the minimum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pybpf.lb.config import is_prime


def permutation(key: bytes, size: int) -> tuple[int, int]:
    """(offset, skip) of a backend's permutation: slot j is (offset + j * skip) % size."""
    digest = hashlib.blake2b(key, digest_size=16, person=b"pybpf-maglev").digest()
    offset = int.from_bytes(digest[:8], "little") % size
    skip = int.from_bytes(digest[8:], "little") % (size - 1) + 1
    return offset, skip


def build_table(backends: Sequence[tuple[bytes, int]], size: int) -> list[int]:
    """The Maglev table: for each of `size` slots, the position of a backend in `backends`.

    `backends` is (key, weight) pairs, the key identifying the backend (its packed address);
    an empty list gives a table of -1 (no backend).
    """
    if not is_prime(size):
        raise ValueError(f"Maglev table size {size} is not a prime")
    table = [-1] * size
    live = [(key, weight) for key, weight in backends if weight > 0]
    if not live:
        return table
    if len(live) >= size:
        raise ValueError(f"{len(live)} backends need a table larger than {size}")
    positions = [i for i, (_, w) in enumerate(backends) if w > 0]
    heaviest = max(w for _, w in live)
    slot = []
    skip = []
    for key, _ in live:
        o, s = permutation(key, size)
        slot.append(o)
        skip.append(s)
    credit = [0] * len(live)
    weights = [w for _, w in live]
    filled = 0
    while True:
        for i, weight in enumerate(weights):
            credit[i] += weight
            while credit[i] >= heaviest:
                credit[i] -= heaviest
                c, s = slot[i], skip[i]
                while table[c] >= 0:
                    c += s
                    if c >= size:
                        c -= size
                table[c] = positions[i]
                c += s
                slot[i] = c - size if c >= size else c
                filled += 1
                if filled == size:
                    return table
