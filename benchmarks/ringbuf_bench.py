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


def producer_spec(ring_size: int, flags: int = 0,
                  ptype: ProgramType = ProgramType.SCHED_CLS) -> CollectionSpec:
    """A tc program: each test run emits one 8-byte record with a sequence number.

    (tc rather than XDP: an XDP test run with repeat > 1 re-patches the kernel's XDP dispatcher, a fixed
    ~20 ms per call that would be measured instead of the ring buffer.)

    flags 0 lets the kernel wake the reader when it has caught up; 1 (BPF_RB_NO_WAKEUP) never wakes it
    (the reader polls), which is how high-rate producers avoid a wake-up per record.
    """
    insns = (
        I(0x62, 10, 0, -4, 0), I(0xBF, 2, 10), I(0x07, 2, 0, 0, -4),
        I(0x18, 1), I(0x85, 0, 0, 0, 1),  # lookup counts[0] (lddw at slot 3)
        I(0x15, 0, 0, 9, 0),
        I(0xB7, 1, 0, 0, 1), I(0xDB, 0, 1, 0, 0x01), I(0x7B, 10, 1, -16, 0),  # r1 = fetch_add; spill
        I(0xBF, 2, 10), I(0x07, 2, 0, 0, -16), I(0x18, 1),  # lddw ring at slot 12
        I(0xB7, 3, 0, 0, 8), I(0xB7, 4, 0, 0, flags), I(0x85, 0, 0, 0, 130),  # bpf_ringbuf_output
        I(0xB7, 0, 0, 0, 2), I(0x95),
    )
    prog = ProgramSpec(name="produce", instructions=insns, type=ptype,
                       map_references=(MapReference(3, "counts"), MapReference(12, "events")))
    return CollectionSpec(
        programs={"produce": prog},
        maps={"counts": MapSpec("counts", MapType.ARRAY, 4, 8, 1),
              "events": MapSpec("events", MapType.RINGBUF, 0, 0, ring_size)})


def measure(total: int, chunk: int, ring_size: int, flags: int = 0) -> dict[str, float]:
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.kernel.ringbuf import RingBuffer

    packet = bytes(64)
    with load_collection(producer_spec(ring_size, flags)) as coll, RingBuffer(coll.maps["events"]) as rb:
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
                rb.wait(0.01 if not flags else 0.0005)
        elapsed = time.perf_counter() - start
        t.join()
        raw = coll.maps["counts"][0]
        produced = int.from_bytes(raw if isinstance(raw, bytes) else raw[0], "little")
    return {"events": received, "seconds": elapsed, "events_per_second": received / elapsed,
            "produced": produced, "lost": produced - received, "in_order": ordered}


def measure_reader(total: int, ring_size: int) -> dict[str, float]:
    """The reader alone: the kernel fills the ring first, then the records are consumed and timed."""
    from pybpf.kernel.kernel_engine import load_collection
    from pybpf.kernel.ringbuf import RingBuffer

    total = min(total, ring_size // 16 - 1)
    with load_collection(producer_spec(ring_size)) as coll, RingBuffer(coll.maps["events"]) as rb:
        start = time.perf_counter()
        result = coll.programs["produce"].run(bytes(64), repeat=total)
        produce_s = time.perf_counter() - start
        start = time.perf_counter()
        records = rb.read_available()
        read_s = time.perf_counter() - start
    ok = [int.from_bytes(r, "little") for r in records[:3]] == [0, 1, 2][:len(records)]
    return {"events": len(records), "read_seconds": read_s, "reader_events_per_second": len(records) / read_s,
            "producer_events_per_second": total / produce_s, "kernel_ns_per_run": result.duration_ns or 0,
            "ok": ok}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--ring-size", type=int, default=1 << 22)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="a shorter run (CI smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.events = min(args.events, 400_000)
    from pybpf.kernel.probe import bpf_permission_error

    reason = bpf_permission_error()
    if reason:
        print(f"ringbuf benchmark skipped: {reason}")
        return 0
    r = measure(args.events, args.chunk, args.ring_size)
    alone = measure_reader(200_000 if args.quick else 1_000_000, 1 << 25)
    if args.json:
        print(json.dumps({"machine": platform.platform(), **r, "reader_alone": alone}))
    else:
        print(f"machine: {platform.platform()} ({platform.machine()}), python {sys.version.split()[0]}")
        print(f"ring buffer: {r['events']:,} events in {r['seconds']:.3f} s = "
              f"{r['events_per_second'] / 1e6:.2f} M events/s end to end, producer and reader running together "
              f"(lost {r['lost']}, in order: {r['in_order']})")
        print(f"reader alone: {alone['events']:,} events in {alone['read_seconds']:.3f} s = "
              f"{alone['reader_events_per_second'] / 1e6:.2f} M events/s; the kernel producer alone: "
              f"{alone['producer_events_per_second'] / 1e6:.2f} M events/s ({alone['kernel_ns_per_run']} ns per run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
