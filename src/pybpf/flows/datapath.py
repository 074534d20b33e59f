"""The flows datapath in the kernel: compile bpf/flows.c, load it, attach tc on interfaces, read events.

    with Datapath(["vb"], netns="blue", policy=load_policy("policy.yaml")) as dp:
        for flow in dp.read(timeout=1.0): ...
        dp.stats()["lost"]          # events the ring buffer had no room for

The C source ships as package data and is compiled with pybpf.toolchain the first time (the
toolchain's content-hash cache makes later starts instant).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from pybpf.errors import LoadError
from pybpf.flows.event import EVENT_SIZE, STAT_NAMES, make_decoder
from pybpf.flows.flow import Flow, ip_text
from pybpf.flows.policy import MAX_RULES, Rule

DEFAULT_RING_SIZE = 1 << 20
_CONN_KEY = struct.Struct("<16s16sHHIBBBB")
_CONN_VALUE = struct.Struct("<QQBB6x")


def bpf_source() -> Path:
    """Path of the datapath's C source (package data)."""
    return Path(str(resources.files("pybpf.flows") / "bpf" / "flows.c"))


def compile_datapath() -> Path:
    """The compiled object (cached by pybpf.toolchain)."""
    from pybpf.toolchain import compile_c

    return compile_c(bpf_source())


def datapath_spec(ring_size: int = DEFAULT_RING_SIZE) -> Any:
    """The datapath's CollectionSpec, its ring buffer resized to `ring_size` bytes."""
    from pybpf.object import load_file
    from pybpf.object.spec import CollectionSpec

    if ring_size < 4096 or ring_size & (ring_size - 1):
        raise LoadError(f"ring buffer size must be a power of two >= 4096, not {ring_size}")
    spec = load_file(compile_datapath())
    maps = dict(spec.maps)
    maps["events"] = replace(maps["events"], max_entries=ring_size)
    return CollectionSpec(programs=spec.programs, maps=maps, license=spec.license, btf=spec.btf)


@contextlib.contextmanager
def netns_context(netns: str | None) -> Iterator[None]:
    """Enter network namespace `netns` (by name, as `ip netns` creates them) for the block."""
    if not netns:
        yield
        return
    from pybpf.kernel.netns import in_netns

    if not os.path.exists(f"/run/netns/{netns}"):
        raise LoadError(f"no network namespace {netns!r} (see `ip netns list`)")
    with in_netns(netns):
        yield


class Datapath:
    """The loaded and attached datapath: tc ingress + egress programs on each interface."""

    def __init__(self, interfaces: Sequence[str], *, netns: str | None = None, policy: Sequence[Rule] = (),
                 aggregate: bool = False, ring_size: int = DEFAULT_RING_SIZE, node_name: str | None = None,
                 legacy_tc: bool | None = None) -> None:
        if not interfaces:
            raise LoadError("give at least one interface to observe (--interface IF)")
        self.interfaces = list(dict.fromkeys(interfaces))
        self.netns = netns
        self.policy = list(policy)
        self.aggregate = aggregate
        self.ring_size = ring_size
        self.node_name = node_name if node_name is not None else socket.gethostname()
        self.legacy_tc = legacy_tc
        self.ifindex: dict[int, str] = {}
        self._coll: Any = None
        self._links: list[Any] = []
        self._ring: Any = None
        self._decode = make_decoder(self.ifindex, self.node_name)

    # --- life cycle ------------------------------------------------------------------------
    def open(self) -> Datapath:
        from pybpf.kernel import RingBuffer, attach_tc, load_collection
        from pybpf.kernel.links import ifindex

        spec = datapath_spec(self.ring_size)
        self._coll = load_collection(spec, pin_path=None, globals={"aggregate": int(self.aggregate)})
        try:
            self.set_policy(self.policy)
            with netns_context(self.netns):
                for name in self.interfaces:
                    self.ifindex[ifindex(name)] = name
                    for direction in ("ingress", "egress"):
                        prog = self._coll.programs[f"flows_{direction}"]
                        self._links.append(attach_tc(prog, name, direction, legacy=self.legacy_tc))
            self._ring = RingBuffer(self._coll.maps["events"])
        except BaseException:
            self.close()
            raise
        return self

    def detach(self) -> None:
        """Take the programs off the interfaces; events already in the ring and the counters stay readable."""
        if self._links:
            with contextlib.suppress(LoadError, OSError), netns_context(self.netns):
                for link in reversed(self._links):
                    link.close()
        self._links = []

    def close(self) -> None:
        self.detach()
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._coll is not None:
            self._coll.close()
            self._coll = None

    def __enter__(self) -> Datapath:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def collection(self) -> Any:
        if self._coll is None:
            raise LoadError("the datapath is not loaded (use it in a with-block or call open())")
        return self._coll

    # --- control ---------------------------------------------------------------------------
    def set_policy(self, rules: Sequence[Rule]) -> None:
        """Replace the policy: rules first, then the slot after them marked as the end."""
        if len(rules) > MAX_RULES:
            raise LoadError(f"a policy has at most {MAX_RULES} rules")
        policy = self.collection.maps["policy"]
        for i, rule in enumerate(rules):
            policy[i] = rule.pack()
        for i in range(len(rules), MAX_RULES):
            policy[i] = bytes(policy.value_size)
        self.policy = list(rules)

    # --- events ----------------------------------------------------------------------------
    def wait(self, timeout: float | None) -> bool:
        return bool(self._ring.wait(timeout))

    def read_available(self) -> list[Flow]:
        """Every event in the ring buffer now, decoded."""
        records = self._ring.read_available()
        decode = self._decode
        return [decode(r) for r in records if len(r) >= EVENT_SIZE]

    def read(self, timeout: float | None = 0.0) -> list[Flow]:
        """Wait up to `timeout` seconds for events, then return what is there."""
        if timeout and not self._ring.pending_bytes():
            self._ring.wait(timeout)
        return self.read_available()

    def fileno(self) -> int:
        return int(self._ring.fileno())

    # --- counters --------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """The datapath's counters summed over CPUs: seen, lost, non_ip, dropped, aggregated, truncated."""
        stats = self.collection.maps["stats"]
        out: dict[str, int] = {}
        for i, name in enumerate(STAT_NAMES):
            values = stats[i]
            per_cpu = values if isinstance(values, list) else [values]
            out[name] = sum(int.from_bytes(v[:8], "little") for v in per_cpu)
        return out

    def connections(self) -> list[dict[str, Any]]:
        """With aggregation: every connection's packet and byte counts (the `conns` map)."""
        out = []
        for key, value in self.collection.maps["conns"].items():
            saddr, daddr, sport, dport, ifidx, proto, direction, icmp_type, version = _CONN_KEY.unpack(key)
            packets, nbytes, flags, verdict = _CONN_VALUE.unpack(value)
            out.append({"source": ip_text(saddr, version), "destination": ip_text(daddr, version),
                        "source_port": sport, "destination_port": dport, "protocol": proto,
                        "interface": self.ifindex.get(ifidx, f"if{ifidx}"),
                        "direction": "EGRESS" if direction else "INGRESS", "icmp_type": icmp_type,
                        "packets": packets, "bytes": nbytes, "tcp_flags_seen": flags, "verdict": verdict})
        return out
