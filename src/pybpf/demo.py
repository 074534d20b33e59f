"""`make demo`: an XDP firewall in C compiled with zig, verified, run on every engine, live on a veth."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pybpf.kernel.netns import in_netns

# The examples ship inside the package (src/pybpf/examples links to the checkout's examples/).
EXAMPLES = Path(__file__).resolve().parent / "examples"
EXAMPLE = EXAMPLES / "xdp_firewall.c"
PROGRAM = "xdp_firewall"
BLOCKED = (22, 3389)
VERDICT = {0: "ABORTED", 1: "DROP", 2: "PASS", 3: "TX", 4: "REDIRECT"}
SPEED_RUNS = 2000


def say(text: str = "") -> None:
    print(text, flush=True)


def step(n: int, title: str) -> None:
    say()
    say(f"{n}. {title}")


def _u64(raw: Any) -> int:
    return int.from_bytes(bytes(raw), "little")


def traffic() -> list[tuple[str, bytes]]:
    """The demo packets: what each is, and the frame."""
    from pybpf.hooks import packets as pk

    frames = [
        pk.tcp_packet("192.0.2.10", "198.51.100.1", sport=51000, dport=22),
        pk.tcp_packet("192.0.2.10", "198.51.100.1", sport=51001, dport=443),
        pk.udp_packet("192.0.2.11", "198.51.100.1", sport=5353, dport=53, payload=b"\x12\x34" + bytes(30)),
        pk.udp_packet("192.0.2.12", "198.51.100.1", sport=40000, dport=3389, payload=b"rdp?"),
        pk.tcp_packet("2001:db8::10", "2001:db8::1", sport=51002, dport=22),
        pk.tcp_packet("2001:db8::10", "2001:db8::1", sport=51003, dport=80, payload=b"GET / HTTP/1.1\r\n\r\n"),
        pk.icmp_echo_packet("192.0.2.10", "198.51.100.1"),
        pk.tcp_packet("192.0.2.10", "198.51.100.1", sport=22, dport=51004, flags="SA"),
    ]
    return [(pk.parse(f).describe(), f) for f in frames]


# ---- engines -----------------------------------------------------------------------------------


def kernel_unavailable() -> str | None:
    """Why the kernel engine cannot be used here, or None."""
    try:
        from pybpf.kernel.probe import bpf_permission_error
    except ImportError as exc:
        return f"pybpf.kernel is not available ({exc})"
    return bpf_permission_error()


def load_on(engine: str, spec: Any) -> Any:
    from pybpf.engines import Runtime

    return Runtime(engine, verify=False).load(spec)


def run_engine(engine: str, spec: Any, packets: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Load the firewall on `engine`, block the demo ports, run the packets; verdicts and maps."""
    coll = load_on(engine, spec)
    try:
        prog = coll.programs[PROGRAM]
        for port in BLOCKED:
            coll.maps["blocked_ports"][port] = 0
        verdicts = [prog.run(frame).retval for _, frame in packets]
        blocked = {int.from_bytes(k, "little"): _u64(v) for k, v in coll.maps["blocked_ports"].items()}
        counts = {VERDICT.get(i, str(i)): _u64(coll.maps["verdicts"][i]) for i in range(5)}
        return {"verdicts": verdicts, "blocked": dict(sorted(blocked.items())), "counts": counts}
    finally:
        coll.close()


def time_engine(engine: str, spec: Any, frame: bytes) -> list[tuple[str, float | None]]:
    """(label, nanoseconds per packet) for the ways `engine` can run the firewall on `frame`."""
    coll = load_on(engine, spec)
    try:
        prog = coll.programs[PROGRAM]
        if engine == "kernel":
            result = prog.run(frame, repeat=100_000)
            return [("kernel BPF_PROG_TEST_RUN", float(result.duration_ns) if result.duration_ns else None)]
        runs = SPEED_RUNS if engine != "interp" else SPEED_RUNS // 4
        for _ in range(max(runs // 10, 20)):  # warm up: a program run often gets its set-up compiled
            prog.run(frame)
        best = float("inf")
        for _ in range(3):  # the best of three rounds: a busy machine slows some of them
            start = time.perf_counter_ns()
            for _ in range(runs // 3):
                prog.run(frame)
            best = min(best, (time.perf_counter_ns() - start) / (runs // 3))
        out: list[tuple[str, float | None]] = [(f"{engine} run()", best)]
        run_batch = getattr(prog, "run_batch", None)
        if callable(run_batch):
            batch = run_batch([frame] * (SPEED_RUNS * 10))
            out.append((f"{engine} run_batch()", batch.duration_ns / max(batch.packets, 1)))
        return out
    finally:
        coll.close()


def bounce(engines: list[str]) -> None:
    """examples/xdp_bounce.c on each engine: an echo request rewritten into a reply, sent back."""
    from pybpf.hooks import packets as pk
    from pybpf.object import load_file
    from pybpf.toolchain import compile_c

    spec = load_file(compile_c(EXAMPLES / "xdp_bounce.c"))
    request = pk.icmp_echo_packet("192.0.2.10", "198.51.100.1", ident=7, seq=1,
                                  eth_src="02:00:00:00:00:0a", eth_dst="02:00:00:00:00:0b")
    req = pk.parse(request)
    say(f"   in            {req.describe()}  {req.eth_src} -> {req.eth_dst}")
    outputs = {}
    for engine in engines:
        coll = load_on(engine, spec)
        try:
            result = coll.programs["xdp_bounce"].run(request)
        finally:
            coll.close()
        outputs[engine] = (result.retval, result.data_out)
    for engine, (retval, data) in outputs.items():
        if data is None:
            say(f"   {engine}: {VERDICT.get(retval, retval)} (no output packet)")
            continue
        reply = pk.parse(data)
        ok = "checksums ok" if reply.checksums_ok else "BAD CHECKSUMS"
        say(f"   out {engine:<6} {'XDP_' + str(VERDICT.get(retval, retval)):<7}{reply.describe()}  "
            f"{reply.eth_src} -> {reply.eth_dst}, {ok}")
    packets_out = {data for _, data in outputs.values()}
    if len(packets_out) == 1:
        say(f"   the same {len(request)}-byte reply from {', '.join(outputs)}")


def fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "n/a"
    if ns >= 1000:
        return f"{ns / 1000:.1f} µs"
    return f"{ns:.0f} ns"


# ---- live XDP on a veth pair ---------------------------------------------------------------------

def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def veth_namespaces(prefix: str = "pybpfdemo") -> Iterator[tuple[str, str]]:
    """Namespaces A (10.198.0.1 on veth `va`) and B (10.198.0.2 on `vb`), removed on exit."""
    tag = f"{prefix}{os.getpid() % 100000}"
    a, b = f"{tag}a", f"{tag}b"
    made: list[str] = []
    try:
        for ns in (a, b):
            _ip("netns", "add", ns)
            made.append(ns)
        _ip("-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b)
        _ip("-n", a, "addr", "add", "10.198.0.1/30", "dev", "va")
        _ip("-n", b, "addr", "add", "10.198.0.2/30", "dev", "vb")
        for ns, dev in ((a, "va"), (b, "vb"), (a, "lo"), (b, "lo")):
            _ip("-n", ns, "link", "set", dev, "up")
        yield a, b
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def live_veth(spec: Any) -> None:
    """Attach the firewall to a veth in a throw-away namespace and send it real UDP datagrams."""
    from pybpf.kernel.links import attach_xdp

    sent = 20
    with veth_namespaces() as (ns_a, ns_b):
        coll = load_on("kernel", spec)
        try:
            coll.maps["blocked_ports"][BLOCKED[0]] = 0
            with in_netns(ns_b):
                link = attach_xdp(coll.programs[PROGRAM], "vb")
                rx_open = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                rx_blocked = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with in_netns(ns_a):
                tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rx_open.bind(("10.198.0.2", 8080))
                rx_blocked.bind(("10.198.0.2", BLOCKED[0]))
                for s in (rx_open, rx_blocked):
                    s.settimeout(0.5)
                got_open = got_blocked = 0
                for i in range(sent):
                    tx.sendto(b"blocked %d" % i, ("10.198.0.2", BLOCKED[0]))
                    tx.sendto(b"open %d" % i, ("10.198.0.2", 8080))
                for sock, name in ((rx_open, "open"), (rx_blocked, "blocked")):
                    while True:
                        try:
                            sock.recv(64)
                        except (TimeoutError, OSError):
                            break
                        if name == "open":
                            got_open += 1
                        else:
                            got_blocked += 1
                drops = _u64(coll.maps["blocked_ports"][BLOCKED[0]])
            finally:
                link.close()
                for s in (rx_open, rx_blocked, tx):
                    s.close()
        finally:
            coll.close()
    say(f"   namespaces {ns_a} (10.198.0.1) and {ns_b} (10.198.0.2), XDP on veth 'vb' of {ns_b}")
    say(f"   sent {sent} UDP datagrams to port {BLOCKED[0]} (blocked) and {sent} to port 8080")
    say(f"   received: port 8080: {got_open}/{sent}   port {BLOCKED[0]}: {got_blocked}/{sent}")
    say(f"   kernel map blocked_ports[{BLOCKED[0]}] = {drops} packets dropped by XDP")
    say("   namespaces and veth removed")


# ---- the demo ------------------------------------------------------------------------------------


FAILED: list[str] = []  # the parts of the demo that failed: the exit status is 1 when any did


def guarded(what: str, fn: Callable[[], Any]) -> Any:
    """Run one part of the demo; a failure is reported in one line, remembered, and the demo goes on."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the demo must never end in a traceback
        say(f"   ({what} failed: {type(exc).__name__}: {exc})")
        FAILED.append(what)
        return None


def main() -> int:
    started = time.perf_counter()
    say("pybpf demo: an XDP firewall written in C, compiled with zig from pip, run in user space")
    say("=" * 88)
    if not EXAMPLE.is_file():
        say(f"{EXAMPLE} not found: the installed package lacks its examples")
        return 1

    from pybpf.object import load_file
    from pybpf.toolchain import ToolchainError, compile_c

    step(1, f"Compile examples/{EXAMPLE.name} (drops TCP/UDP to ports listed in a BPF hash map)")
    t0 = time.perf_counter()
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"pybpf-demo-{os.getuid()}" / "xdp_firewall.o"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        result = compile_c(EXAMPLE, out)
    except OSError as exc:
        say(f"   cannot create {out.parent}: {exc.strerror}")
        return 1
    except ToolchainError as exc:
        say(f"   cannot compile: {exc}")
        if getattr(exc, "stderr", ""):
            say(exc.stderr)  # type: ignore[attr-defined]
        return 1
    shown = " ".join(a for a in result.command if not a.startswith("-I") and not a.startswith("-fno-"))
    say(f"   $ {shown.replace(sys.executable, 'python')}")
    spec = load_file(result.path)
    prog = spec.programs[PROGRAM]
    n_slots = sum(i.slots for i in prog.instructions)
    say(f"   -> {result.path.stat().st_size // 1024} KiB ELF object in {time.perf_counter() - t0:.2f} s"
        + (" (from cache)" if result.cached else ""))
    say(f"   program {PROGRAM!r}: section {prog.section!r}, type {prog.type.name}, {n_slots} instructions")
    for m in spec.maps.values():
        say(f"   map {m.name!r}: {m.type.name.lower()}, key {m.key_size} B, value {m.value_size} B, "
            f"max_entries {m.max_entries}")

    step(2, "Disassemble (pybpf.isa.disassemble, the first instructions)")

    def disasm() -> None:
        from pybpf.helpers.ids import HELPER_NAMES
        from pybpf.isa import disassemble, iter_slots

        names = {i: f"bpf_{n}" for i, n in enumerate(HELPER_NAMES)}
        head = prog.instructions[:14]
        lines = disassemble(head, helper_names=names).splitlines()
        pcs = [pc for pc, _ in iter_slots(head)]
        for pc, line in zip(pcs, lines, strict=False):
            say(f"   {pc:4}: {line}")
        say(f"   ... ({n_slots} instructions in all)")

    guarded("disassembly", disasm)

    step(3, "Verify (pybpf's own verifier proves it safe the way the kernel does)")

    def verify() -> None:
        from pybpf.verifier import verify_collection

        for name, res in verify_collection(spec).items():
            say(f"   {name}: accepted, {res.processed_insns} instructions processed, "
                f"{res.peak_states} peak states, {res.time_ns / 1e6:.1f} ms")

    guarded("verification", verify)

    packets = traffic()
    engines = ["interp", "jit"]
    kernel_reason = kernel_unavailable()
    if kernel_reason is None:
        engines.append("kernel")
    step(4, f"Run {len(packets)} packets with ports {', '.join(map(str, BLOCKED))} blocked "
         f"({', '.join(engines)})")
    results: dict[str, dict[str, Any]] = {}
    for engine in engines:
        res = guarded(f"the {engine} engine", lambda e=engine: run_engine(e, spec, packets))  # type: ignore[misc]
        if res is not None:
            results[engine] = res
    width = max(len(d) for d, _ in packets) + 2
    say("   " + "packet".ljust(width) + "".join(e.ljust(9) for e in results))
    for row, (desc, _) in enumerate(packets):
        cells = "".join(VERDICT.get(r["verdicts"][row], "?").ljust(9) for r in results.values())
        say("   " + desc.ljust(width) + cells)
    if results:
        first = next(iter(results.values()))
        same = all(r == first for r in results.values())
        say(f"   map blocked_ports (port: drops): {first['blocked']}")
        say(f"   map verdicts: {', '.join(f'{k} {v}' for k, v in first['counts'].items() if v)}")
        say("   " + ("verdicts and maps identical on " + ", ".join(results) if same
                     else "ENGINES DISAGREE: " + repr(results)))
        if not same:
            FAILED.append("engine agreement")
    if kernel_reason is not None:
        say(f"   kernel: not used ({kernel_reason}); everything ran in user space")

    step(5, "Rewrite and send back: examples/xdp_bounce.c answers a ping from XDP (XDP_TX)")
    guarded("the bounce example", lambda: bounce(list(results)))

    step(6, "Speed: time per packet through the firewall (one TCP packet, maps included)")
    frame = packets[1][1]
    for engine in results:
        timings = guarded(f"timing {engine}", lambda e=engine: time_engine(e, spec, frame))  # type: ignore[misc]
        for label, ns in timings or []:
            say(f"   {label:<28} {fmt_ns(ns):>10} per packet")

    step(7, "Live: XDP attached to a veth in a temporary network namespace")
    if kernel_reason is not None:
        say(f"   skipped: needs root with bpf() ({kernel_reason})")
    elif shutil.which("ip") is None:
        say("   skipped: iproute2 (`ip`) is not installed")
    else:
        guarded("the live XDP run", lambda: live_veth(spec))

    say()
    if FAILED:
        say(f"FAILED after {time.perf_counter() - started:.1f} s: {', '.join(FAILED)}")
        return 1
    say(f"Done in {time.perf_counter() - started:.1f} s. Next: pybpf cc examples/xdp_firewall.c -o fw.o; "
        "pybpf packet tcp --dport 22 -o pkt.bin; pybpf run fw.o --data-in pkt.bin (see README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
