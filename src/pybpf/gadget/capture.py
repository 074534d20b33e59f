"""Run a packet gadget (XDP or tc programs) over a capture on a user-space engine, no kernel needed.

Each packet of the pcap/pcapng file goes through every packet program of the image on the
interpreter or the JIT, in order; events the programs emit into a ring buffer become rows as in
the kernel; the metric and histogram maps are dumped at the end, as `runner.run` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from pybpf.gadget.runner import Row, row_of, summary_maps
from pybpf.gadget.store import GadgetError, Image, Store


def run_pcap(image: Image, store: Store, pcap: str | os.PathLike[str], on_row: Callable[[Row], None], *,
             engine: str = "jit", params: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Feed `pcap` to the image's packet programs on `engine` ("interp" or "jit"); the summary maps."""
    from pybpf.abi import ProgramType
    from pybpf.btf.entries import decode_event, find_type, map_dump
    from pybpf.engines import Runtime
    from pybpf.hooks.pcap import iter_packets
    from pybpf.object import load_bytes
    from pybpf.object.skeleton import with_globals

    if engine not in ("interp", "jit"):
        raise GadgetError(f"--pcap runs on the user-space engines (interp, jit), not {engine!r}")
    spec = with_globals(load_bytes(store.object_of(image), name=image.ref), dict(params or {}))
    packet_types = (ProgramType.XDP, ProgramType.SCHED_CLS)
    names = [n for n, p in spec.programs.items() if p.type in packet_types]
    if not names:
        raise GadgetError(f"{image.ref} has no packet program (XDP or tc): --pcap runs packet gadgets only")
    config = image.config
    columns = config.get("columns") or []
    btf = spec.btf
    type_id = find_type(btf, config["eventType"]) if btf is not None and config.get("eventType") else None
    with Runtime(engine, verify=True).load(spec) as coll:
        ring: Any = coll.maps.get(config.get("eventMap") or "")
        readable = hasattr(ring, "read_available")
        programs = [coll.programs[n] for n in names]
        for packet in iter_packets(os.fspath(pcap)):
            for prog in programs:
                prog.run(packet.data)
            if readable:
                for record in ring.read_available():
                    on_row(row_of(columns, decode_event(btf, type_id, record) if type_id else record))
        return {name: map_dump(coll.maps[name], btf) for name in summary_maps(config) if name in coll.maps}
