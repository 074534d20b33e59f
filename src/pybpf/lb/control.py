"""The control plane: write a configuration into the balancer's maps, read its counters back.

It works on the maps of any engine (interpreter, JIT, kernel, or kernel maps opened from their
pins by another process) and keeps what established connections depend on: a real keeps its
index while it stays configured (the connection table stores indices), a VIP keeps its number,
and a real that leaves the configuration stays reachable for its established flows until its
index is needed for a new real.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pybpf.engine import Map
from pybpf.errors import BpfError
from pybpf.lb import maps as layout
from pybpf.lb.config import MAX_REALS, IPAddress, LbConfig, LbConfigError, Vip
from pybpf.lb.maglev import build_table


def _index_bytes(i: int) -> bytes:
    return i.to_bytes(4, "little")


@dataclass
class Applied:
    """What one apply() did: VIP numbers and real indices in use, table slots written."""

    vip_numbers: dict[str, int] = field(default_factory=dict)
    real_indices: dict[str, int] = field(default_factory=dict)
    slots_written: int = 0


class Balancer:
    """The balancer's maps (by name, from any engine) and the operations on them."""

    def __init__(self, maps: Mapping[str, Map]) -> None:
        missing = {"vips", "ring", "reals", "conns", "vip_stats", "real_stats", "ctl"} - set(maps)
        if missing:
            raise LbConfigError(f"not a load balancer: maps {', '.join(sorted(missing))} missing")
        self.maps = maps

    # --- reading the current state ---------------------------------------------------------
    def reals(self) -> dict[int, IPAddress]:
        """Real index -> address of every slot in use."""
        out: dict[int, IPAddress] = {}
        m = self.maps["reals"]
        for i in range(1, MAX_REALS + 1):
            raw = m.lookup(_index_bytes(i))
            address = layout.decode_real_def(bytes(raw)) if isinstance(raw, (bytes, bytearray)) else None
            if address is not None:
                out[i] = address
        return out

    def vips(self) -> dict[tuple[IPAddress, int, int], int]:
        """(address, port, protocol number) -> VIP number, for every configured VIP."""
        out: dict[tuple[IPAddress, int, int], int] = {}
        for key, value in self.maps["vips"].items():
            vip_num, flags = layout.decode_vip_meta(bytes(value))  # type: ignore[arg-type]
            if not flags & layout.F_ADDR_ONLY:
                out[layout.decode_vip_key(bytes(key))] = vip_num
        return out

    def ring_size(self) -> int:
        return layout.decode_ring_size(bytes(self.maps["ctl"][0]))  # type: ignore[arg-type]

    # --- writing a configuration -----------------------------------------------------------
    def apply(self, config: LbConfig) -> Applied:
        """Make the maps serve `config`, keeping established connections where they are."""
        ring = self.maps["ring"]
        if config.ring_size * config.max_vips > ring.max_entries:
            raise LbConfigError(
                f"ring_size {config.ring_size} x max_vips {config.max_vips} does not fit the "
                f"loaded table ({ring.max_entries} slots): restart `pybpf lb run` to resize")
        current = self.ring_size() if self.maps["ctl"].lookup(_index_bytes(0)) else 0
        if current and current != config.ring_size and self.vips():
            raise LbConfigError(f"ring_size changes from {current} to {config.ring_size}: "
                                "restart `pybpf lb run` to change it")
        applied = Applied()
        indices = self._place_reals(config, applied)
        numbers = self._number_vips(config)
        self.maps["ctl"][0] = layout.ctl(config)
        for vip in config.vips:
            num = numbers[vip]
            applied.vip_numbers[str(vip)] = num
            applied.slots_written += self._write_ring(vip, num, indices, config.ring_size)
        self._write_vips(config, numbers)
        return applied

    def _place_reals(self, config: LbConfig, applied: Applied) -> dict[IPAddress, int]:
        existing = {addr: i for i, addr in self.reals().items()}
        wanted = config.real_addresses
        indices = {addr: existing[addr] for addr in wanted if addr in existing}
        used = set(existing.values())
        free = [i for i in range(1, MAX_REALS + 1) if i not in used]
        # reals that left the configuration keep their slot (draining) until one is needed
        draining = [i for addr, i in existing.items() if addr not in set(wanted)]
        reals_map = self.maps["reals"]
        for addr in wanted:
            if addr in indices:
                continue
            if not free and not draining:
                raise LbConfigError(f"more than {MAX_REALS} reals")
            index = free.pop(0) if free else draining.pop(0)
            reals_map[index] = layout.real_def(addr)
            indices[addr] = index
        for addr, index in indices.items():
            applied.real_indices[str(addr)] = index
        return indices

    def _number_vips(self, config: LbConfig) -> dict[Vip, int]:
        existing = self.vips()
        numbers: dict[Vip, int] = {}
        for vip in config.vips:
            num = existing.get((vip.address, vip.port, vip.proto_number))
            if num is not None and num < config.max_vips:
                numbers[vip] = num
        taken = set(numbers.values())
        free = (n for n in range(config.max_vips) if n not in taken)
        for vip in config.vips:
            if vip not in numbers:
                numbers[vip] = next(free)
        return numbers

    def _write_ring(self, vip: Vip, num: int, indices: Mapping[IPAddress, int], size: int) -> int:
        backends = [(r.address.packed, r.weight) for r in vip.reals]
        table = build_table(backends, size)
        base = num * size
        real_of = [indices[r.address] for r in vip.reals]
        pairs = [(_index_bytes(base + slot), _index_bytes(real_of[pos] if pos >= 0 else 0))
                 for slot, pos in enumerate(table)]
        _update_many(self.maps["ring"], pairs)
        return len(pairs)

    def _write_vips(self, config: LbConfig, numbers: Mapping[Vip, int]) -> None:
        m = self.maps["vips"]
        wanted: dict[bytes, bytes] = {}
        for vip, num in numbers.items():
            wanted[layout.vip_key_of(vip)] = layout.vip_meta(num)
        for vip in config.vips:
            wanted.setdefault(layout.addr_only_key(vip.address),
                              layout.vip_meta(0, layout.F_ADDR_ONLY))
        for key, value in wanted.items():
            m[key] = value
        for key in [bytes(k) for k in m.keys()]:
            if key not in wanted:
                del m[key]

    # --- counters ---------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Per-VIP, per-real and global packet/byte counters (summed over CPUs)."""
        vip_stats, real_stats = self.maps["vip_stats"], self.maps["real_stats"]
        vips = []
        for (address, port, proto), num in sorted(self.vips().items(), key=lambda kv: kv[1]):
            c = layout.counter(vip_stats.lookup(_index_bytes(num)))
            protocol = {6: "tcp", 17: "udp"}.get(proto, str(proto))
            vips.append({"vip": str(Vip(address, port, protocol, ())), "number": num,
                         "packets": c.packets, "bytes": c.bytes})
        reals = []
        for index, address in sorted(self.reals().items()):
            c = layout.counter(real_stats.lookup(_index_bytes(index)))
            reals.append({"real": str(address), "index": index, "packets": c.packets,
                          "bytes": c.bytes})
        totals = {name: layout.counter(vip_stats.lookup(_index_bytes(layout.MAX_VIPS + i))).packets
                  for i, name in enumerate(layout.GLOBAL_STATS)}
        return {"vips": vips, "reals": reals, "global": totals}

    def connection(self, key: bytes) -> tuple[int, int] | None:
        """(real index, VIP number) remembered for a flow key on any CPU, or None."""
        value = self.maps["conns"].lookup(key)
        if value is None:
            return None
        for v in value if isinstance(value, list) else [value]:
            real, num = layout.decode_conn(bytes(v))
            if real:
                return real, num
        return None


def _update_many(m: Map, pairs: list[tuple[bytes, bytes]]) -> None:
    batch = getattr(m, "update_batch", None)
    if batch is not None:
        try:
            batch(pairs)
            return
        except BpfError:  # kernels without batch operations: one by one below
            pass
    for key, value in pairs:
        m.update(key, value)
