"""Ring buffer throughput: events per second from one kernel producer to the pybpf reader."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time

from pybpf.abi import MapType, ProgramType
from pybpf.isa.instruction import Instruction as I
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec


def producer_spec(ring_size: int) -> CollectionSpec:
    """XDP program: each test run emits one 8-byte record with a sequence number."""
    insns = (
        I(0x62, 10, 0, -4, 0), I(0xBF, 2, 10), I(0x07, 2, 0, 0, -4),
        I(0x18, 1), I(0x85, 0, 0, 0, 1),  # lookup counts[0] (lddw at slot 3)
        I(0x15, 0, 0, 9, 0),
        I(0xB7, 1, 0, 0, 1), I(0xDB, 0, 1, 0, 0x01), I(0x7B, 10, 1, -16, 0),  # r1 = fetch_add; spill
        I(0xBF, 2, 10), I(0x07, 2, 0, 0, -16), I(0x18, 1),  # lddw ring at slot 12
        I(0xB7, 3, 0, 0, 8), I(0xB7, 4, 0, 0, 0), I(0x85, 0, 0, 0, 130),  # bpf_ringbuf_output
        I(0xB7, 0, 0, 0, 2), I(0x95),
    )
    prog = ProgramSpec(name="produce", instructions=insns, type=ProgramType.XDP,
                       map_references=(MapReference(3, "counts"), MapReference(12, "events")))
    return CollectionSpec(
        programs={"produce": prog},
        maps={"counts": MapSpec("counts", MapType.ARRAY, 4, 8, 1),
              "events": MapSpec("events", MapType.RINGBUF, 0, 0, ring_size)})


def measure(total: int, chunk: int, ring_size: int) -> dict[str, float]:
    from pybpf.kernel.engine import load_collection
    from pybpf.kernel.ringbuf import RingBuffer

    packet = bytes(64)
    with load_collection(producer_spec(ring_size)) as coll, RingBuffer(coll.maps["events"]) as rb:
        prog = coll.programs["produce"]
        done = threading.Event()

        def produce() -> None:
            for _ in range(total // chunk):
                while rb.pending_bytes() > ring_size // 2:
                    time.sleep(0.0002)  # back-pressure without competing for the GIL
                prog.run(packet, repeat=chunk)
            done.set()

        received = 0
        last = -1
        ordered = True
        start = time.perf_counter()
        t = threading.Thread(target=produce)
        t.start()
        while received < total:
            records = rb.read_available()
            if records:
                first = int.from_bytes(records[0], "little")
                ordered = ordered and first == last + 1
                last = int.from_bytes(records[-1], "little")
                received += len(records)
            elif done.is_set() and rb.pending_bytes() == 0:
                break
            else:
                rb.wait(0.01)
        elapsed = time.perf_counter() - start
        t.join()
        produced = int.from_bytes(coll.maps["counts"][0], "little")
    return {"events": received, "seconds": elapsed, "events_per_second": received / elapsed,
            "produced": produced, "lost": produced - received, "in_order": ordered}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--ring-size", type=int, default=1 << 22)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from pybpf.kernel.probe import bpf_permission_error

    reason = bpf_permission_error()
    if reason:
        print(f"ringbuf benchmark skipped: {reason}")
        return 0
    r = measure(args.events, args.chunk, args.ring_size)
    if args.json:
        print(json.dumps({"machine": platform.platform(), **r}))
    else:
        print(f"machine: {platform.platform()} ({platform.machine()}), python {sys.version.split()[0]}")
        print(f"ring buffer: {r['events']:,} events in {r['seconds']:.3f} s = "
              f"{r['events_per_second'] / 1e6:.2f} M events/s (lost {r['lost']}, in order: {r['in_order']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
