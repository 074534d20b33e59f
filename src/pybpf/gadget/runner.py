"""Run a gadget image on the kernel engine: set its parameters, attach its programs, stream its events.

Everything comes from the image: the programs attach where their sections say, the ring (or perf)
buffer's records are decoded through BTF into rows whose columns are the event struct's fields (char
arrays as strings, enums as their names, `*addr*` byte arrays as IP addresses), and `const volatile`
globals are the parameters (`--param NAME=VALUE`).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pybpf.gadget.store import GadgetError, Image, Store

Row = dict[str, Any]


def parse_params(items: Iterable[str], image: Image) -> dict[str, int]:
    """`NAME=VALUE` strings checked against the image's declared parameters."""
    declared = {p["name"]: p for p in image.config.get("params", [])}
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise GadgetError(f"--param takes NAME=VALUE, not {item!r}")
        if name not in declared:
            raise GadgetError(f"{image.ref} has no parameter {name!r} "
                              f"(it has: {', '.join(declared) or 'none'})")
        try:
            number = int(value, 0)
        except ValueError:
            raise GadgetError(f"--param {name}: {value!r} is not an integer") from None
        bits = 8 * int(declared[name]["size"])
        if not -(1 << (bits - 1)) <= number < (1 << bits):
            raise GadgetError(f"--param {name}: {value} does not fit in {bits} bits")
        out[name] = number
    return out


def _address(value: Any) -> Any:
    """A 4- or 16-byte address field as text (IPv4-mapped IPv6 addresses as IPv4)."""
    if not isinstance(value, list) or len(value) not in (4, 16) or not all(isinstance(b, int) for b in value):
        return value
    if len(value) == 4:
        return str(ipaddress.IPv4Address(bytes(value)))
    v6 = ipaddress.IPv6Address(bytes(value))
    return str(v6.ipv4_mapped or v6)


def cell(column: dict[str, str], value: Any) -> Any:
    """A field formatted by what it is: `*addr*` byte arrays as IP addresses (char arrays are
    strings and enums their enumerator names already, from BTF)."""
    if "addr" in column["name"] and column.get("type", "").startswith(("__u8 [", "unsigned char [", "u8 [")):
        return _address(value)
    return value


def row_of(columns: list[dict[str, str]], value: Any) -> Row:
    """One event as a row keyed by the config's columns (a record BTF could not decode stays hex)."""
    if isinstance(value, bytes):
        return {"raw": value.hex()}
    if not isinstance(value, dict):
        return {"value": value}
    return {c["name"]: cell(c, value.get(c["name"])) for c in columns} if columns else value


def summary_maps(config: Mapping[str, Any]) -> list[str]:
    """The maps printed when a gadget stops: its metrics, then its histograms."""
    return [m["map"] for m in [*config.get("metrics", []), *config.get("histograms", [])] if m.get("map")]


def _attach(prog: Any, interface: str | None) -> Any:
    from pybpf.abi import ProgramType
    from pybpf.kernel.links import attach_auto, attach_tc, attach_xdp

    ptype = prog.spec.type
    if ptype in (ProgramType.XDP, ProgramType.SCHED_CLS):
        if not interface:
            raise GadgetError(f"program {prog.spec.name!r} is a packet program ({ptype.name}): give --interface "
                              "IFACE to attach it in the kernel, or --pcap FILE to run it over a capture")
        return attach_xdp(prog, interface) if ptype == ProgramType.XDP else attach_tc(prog, interface)
    return attach_auto(prog)


def run(image: Image, store: Store, on_row: Callable[[Row], None], *, params: Mapping[str, int] | None = None,
        duration: float | None = None, stop: threading.Event | None = None,
        on_ready: Callable[[], None] | None = None, listen: str | None = None,
        interface: str | None = None) -> dict[str, Any]:
    """Load and attach `image`, call `on_row` for every event until `duration` or `stop`; the
    metric and histogram maps (name -> map_dump) at the end.

    With `listen` (HOST:PORT) the metric and histogram maps are served to Prometheus at /metrics meanwhile;
    packet programs (XDP, tc) attach to `interface`."""
    from pybpf.btf.entries import decode_event, find_type, map_dump
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.kernel.perfbuf import PerfBuffer
    from pybpf.kernel.ringbuf import RingBuffer
    from pybpf.object import load_bytes
    from pybpf.object.skeleton import with_globals

    config = image.config
    for prog in config.get("programs", []):
        if "hook" in prog:
            raise GadgetError(f"{image.ref}: program {prog['name']!r} is for the application hook point "
                              f"{prog['hook']!r}, not the kernel: the application attaches it with "
                              "HookPoint.attach(pybpf.gadget.image.load_spec(REF))")
    spec = load_bytes(store.object_of(image), name=image.ref)
    spec = with_globals(spec, dict(params or {}))
    columns = config.get("columns") or []
    event_map: str = config.get("eventMap") or ""
    btf = spec.btf
    type_id = find_type(btf, config["eventType"]) if btf is not None and config.get("eventType") else None
    stop = stop or threading.Event()
    metrics: dict[str, Any] = {}

    def decode(record: bytes) -> Any:
        return decode_event(btf, type_id, record) if type_id else record

    with load_collection(spec, pin_path=None) as coll:
        reader: Any = None
        kind = coll.maps[event_map].type.name if event_map and event_map in coll.maps else ""
        if kind == "RINGBUF":
            reader = RingBuffer(coll.maps[event_map], decode=decode)
        elif kind == "PERF_EVENT_ARRAY":
            reader = PerfBuffer(coll.maps[event_map], decode=decode)
        links = []
        server = None
        try:
            if listen is not None:
                from pybpf.gadget.metrics import serve

                metric_maps = {m["map"]: coll.maps[m["map"]] for m in config.get("metrics", [])
                               if m.get("map") in coll.maps}
                kinds = {m["map"]: m.get("type", "gauge") for m in config.get("metrics", [])}
                hist_maps = {m["map"]: coll.maps[m["map"]] for m in config.get("histograms", [])
                             if m.get("map") in coll.maps}
                server = serve(listen, config.get("name") or "gadget", metric_maps, btf, kinds, hist_maps)
            for prog in coll.programs.values():
                links.append(_attach(prog, interface))
            if on_ready is not None:
                on_ready()
            deadline = None if duration is None else time.monotonic() + duration
            while not stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                step = 0.1 if left is None else min(0.1, left)
                if reader is None:
                    stop.wait(step)
                    continue
                reader.wait(step)
                for record in reader.read_available():
                    on_row(row_of(columns, record))
            if reader is not None:
                for record in reader.read_available():
                    on_row(row_of(columns, record))
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
            for link in reversed(links):
                link.close()
            if reader is not None:
                reader.close()
        for name in summary_maps(config):
            if name in coll.maps:
                metrics[name] = map_dump(coll.maps[name], btf)
    return metrics


class TablePrinter:
    """Rows as aligned columns under a header (char arrays get their declared width, capped)."""

    def __init__(self, columns: list[dict[str, str]], write: Callable[[str], None]) -> None:
        self.columns = [c["name"] for c in columns]
        self.widths = [_width(c) for c in columns]
        self.write = write
        self.header_done = False

    def __call__(self, row: Row) -> None:
        names = self.columns or list(row)
        widths = self.widths or [max(len(n), 8) for n in names]
        if not self.header_done:
            self.write(_line([n.upper() for n in names], widths))
            self.header_done = True
        self.write(_line(["" if row.get(n) is None else str(row.get(n)) for n in names], widths))


def _width(column: dict[str, str]) -> int:
    kind = column.get("type", "")
    if kind.startswith("enum ") or ("addr" in column["name"] and "[" in kind):
        return max(len(column["name"]), 15)  # TCP_ESTABLISHED, 255.255.255.255
    if kind.startswith("char [") and kind.endswith("]"):
        try:
            return max(len(column["name"]), min(int(kind[6:-1]), 16))
        except ValueError:
            pass
    return max(len(column["name"]), 7)


def _line(cells: list[str], widths: list[int]) -> str:
    parts = [c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=False)] + cells[-1:]
    return " ".join(parts).rstrip()
