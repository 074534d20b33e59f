"""libbpf-style USDT programs on the kernel: BPF_USDT reads register, memory, indexed and constant arguments
of a probe built by the test, through the specs pybpf writes into __bpf_usdt_specs (spec id as the BPF cookie,
or the probe address on kernels without cookies), with the probe's semaphore set while attached."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pybpf.abi import AttachType
from pybpf.engines import Runtime
from pybpf.errors import LoadError
from pybpf.kernel.link import uprobe_multi
from pybpf.kernel.links import attach_auto, attach_usdt
from pybpf.kernel.ringbuf import RingBuffer
from pybpf.object import load_file
from pybpf.object.kconfig import system_kconfig
from pybpf.toolchain import compile_c, zig_available
from testlib import kernel_collection, kernel_program, zig_x86_64_freestanding

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(not zig_available(), reason="ziglang is not installed (pip install ziglang)"),
              pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probed test program is x86-64 asm")]

DATA = Path(__file__).parent / "data"
EVENT = struct.Struct("<IIii6qQ")  # struct event of usdt_args.bpf.c


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(the probed program, the BPF object whose usdt/ sections name it), built with zig cc."""
    out = tmp_path_factory.mktemp("usdt")
    app = zig_x86_64_freestanding(DATA / "usdt_target.c", out / "usdt_target")
    obj = compile_c(DATA / "usdt_args.bpf.c", out / "usdt_args.o", defines=[f'APP="{app}"'])
    return str(app), Path(obj)


@pytest.fixture(scope="module")
def pie(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The probed program as a position-independent executable (ET_DYN, loaded at a random base)."""
    return zig_x86_64_freestanding(DATA / "usdt_target.c", tmp_path_factory.mktemp("usdt_pie") / "usdt_pie",
                                   "-fPIE", "-pie")


def _events(rb: RingBuffer) -> list[tuple[Any, ...]]:
    return [EVENT.unpack(r) for r in rb.read_available()]


@pytest.fixture(params=["uprobe_multi", "perf_event"])
def collection(built: tuple[str, Path], request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The collection, its USDT programs loaded for one uprobe-multi link per probe (where this kernel has
    them, as libbpf) or, as on kernels without them, for one perf-event uprobe per site."""
    if request.param == "uprobe_multi" and not uprobe_multi.uprobe_multi_supported():
        pytest.skip("this kernel has no uprobe-multi links (Linux 6.6+)")
    if request.param == "perf_event":
        monkeypatch.setattr(uprobe_multi, "uprobe_multi_supported", lambda: False)
    coll = Runtime("kernel", pin_path=None).load(load_file(built[1]))  # the default, verifying path
    try:
        yield coll
    finally:
        coll.close()


def _links_per_probe(collection: Any, sites: int) -> int:
    multi = collection.programs["on_site"].expected_attach_type == AttachType.TRACE_UPROBE_MULTI
    return 1 if multi else sites


def _round_events(pid: int, i: int) -> list[tuple[Any, ...]]:
    """What the programs send for round i of usdt_target.c (values worked out from its source)."""
    table = [11 * i, 22 * i, 33 * i, 44 * i]
    index = i & 1
    return [
        # test:args: -4@%edi 8@%rsi 1@%dl -2@-2(%rbp) -8@-16(%rbp) -4@$-7
        (1, pid, 6, 4, -i, 10000000000 * (i + 1), 250 + i, -300 + i, -1000 * i + 7, -7, 0),
        # test:sib: -4@(%base,%idx,4) -4@4(%base,%idx,4)
        (2, pid, 2, 4, table[index], table[index + 1], 0, 0, 0, 0, 0),
        # test:site, first site 8@$100, second 8@%reg (round + 200); the third argument is -ENOENT
        (3, pid, 1, 8, 0, 100, -2, 0, 0, 0, 0xC00C1E),
        (3, pid, 1, 8, 0, 200 + i, -2, 0, 0, 0, 0xC00C1E),
    ]


def test_arguments_of_every_kind_and_the_semaphore(built: tuple[str, Path], collection: Any) -> None:
    app, _ = built
    links = [attach_auto(collection.programs["on_args"]), attach_auto(collection.programs["on_sib"]),
             collection.attach_usdt("on_site", app, "test", "site", cookie=0xC00C1E)]
    with RingBuffer(collection.maps["events"]) as rb:
        try:
            # test:site has two sites: one uprobe-multi link for both, or one uprobe each
            assert [len(link.links) for link in links] == [1, 1, _links_per_probe(collection, 2)]
            proc = subprocess.run([app, "3"], check=False)
            assert proc.returncode == 3  # every round saw test:args's semaphore set
            # the child's pid is only known after the run: take it from the first event
            got = _events(rb)
            pid = got[0][1]
            assert got == [e for i in range(3) for e in _round_events(pid, i)]
        finally:
            for link in links:
                link.close()
        # detached: the semaphore is clear again and nothing fires
        assert subprocess.run([app, "3"], check=False).returncode == 0
        assert _events(rb) == []


def test_spec_ids_are_freed_and_reused(built: tuple[str, Path], collection: Any) -> None:
    app, _ = built
    first = collection.attach_usdt("on_site", app, "test", "site", cookie=1)
    first.close()
    again = collection.attach_usdt("on_site", app, "test", "site", cookie=1)
    try:
        # the specs of the two sites, written in ids 0 and 1 again: their arg_cnt (offset 296) is 1
        specs = collection.maps["__bpf_usdt_specs"]
        assert [int.from_bytes(specs[i][296:298], "little") for i in range(3)] == [1, 1, 0]
    finally:
        again.close()


def test_pid_filter(built: tuple[str, Path], collection: Any) -> None:
    app, _ = built
    waiting = subprocess.Popen([app, "2", "wait"], stdin=subprocess.PIPE)
    try:
        with RingBuffer(collection.maps["events"]) as rb, \
                collection.attach_usdt("on_args", app, "test", "args", pid=waiting.pid):
            other = subprocess.run([app, "1"], check=False)
            assert other.returncode == 0  # not the traced process: its semaphore is never set
            assert waiting.stdin is not None
            waiting.stdin.write(b"x")
            waiting.stdin.close()
            assert waiting.wait(timeout=30) == 2
            assert [e[:5] for e in _events(rb)] == [(1, waiting.pid, 6, 4, 0), (1, waiting.pid, 6, 4, -1)]
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()


def test_without_bpf_cookies_the_probe_address_finds_the_spec(built: tuple[str, Path]) -> None:
    """A program loaded for a kernel without cookies (LINUX_HAS_BPF_COOKIE=n) finds its spec through
    __bpf_usdt_ip_to_spec_id, filled with the probe addresses of this (non-PIE) executable."""
    app, obj = built
    spec = load_file(obj, kconfig={**system_kconfig(), "LINUX_HAS_BPF_COOKIE": "n"})
    with kernel_collection(Runtime("kernel", pin_path=None).load(spec)) as coll, RingBuffer(coll.maps["events"]) as rb:
        with coll.attach_usdt("on_site", app, "test", "site", cookie=7):
            assert len(coll.maps["__bpf_usdt_ip_to_spec_id"]) == 2
            assert subprocess.run([app, "1"], check=False).returncode == 0
        assert [(e[0], e[5], e[-1]) for e in _events(rb)] == [(3, 100, 7), (3, 200, 7)]
        assert len(coll.maps["__bpf_usdt_ip_to_spec_id"]) == 0  # detaching removed the addresses


def test_attach_errors(built: tuple[str, Path], collection: Any) -> None:
    app, _ = built
    with pytest.raises(LoadError, match="no USDT probe test:nosuch"):
        collection.attach_usdt("on_site", app, "test", "nosuch")
    with pytest.raises(LoadError, match="names no probe"):
        attach_auto(collection.programs["on_site"])  # SEC("usdt") has no target
    # a program without usdt.bpf.h's maps
    other = Runtime("kernel", pin_path=None).load(load_file(compile_c(DATA / "uprobe_count.c")))
    try:
        with pytest.raises(LoadError, match="no __bpf_usdt_specs map"):
            attach_usdt(kernel_program(other, "count_calls"), app, "test", "site")
    finally:
        other.close()


def test_cli_attach_auto_and_usdt(built: tuple[str, Path]) -> None:
    """`pybpf attach OBJ --auto` attaches usdt/PATH:PROVIDER:NAME sections; `--usdt` names a probe explicitly."""
    import json
    import signal

    app, obj = built
    cli = subprocess.Popen([sys.executable, "-m", "pybpf", "attach", str(obj), "--auto", "--json",
                            "--pin-path", "/nonexistent"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert cli.stderr is not None
        assert [cli.stderr.readline() for _ in range(3)] == [
            'not attached: on_site (SEC("usdt") names no probe; use --program on_site --usdt '
            'BINARY:PROVIDER:NAME)\n',
            f"attached on_args (usdt {app}:test:args (1 sites))\n",
            f"attached on_sib (usdt {app}:test:sib (1 sites))\n"]
        assert subprocess.run([app, "2"], check=False).returncode == 2  # test:args's semaphore was set
        cli.send_signal(signal.SIGINT)
        out, _ = cli.communicate(timeout=30)
        events = [EVENT.unpack(bytes.fromhex(r["data"])) for r in map(json.loads, out.splitlines())
                  if r.get("map") == "events"]
        pid = events[0][1]
        assert events == [e for i in range(2) for e in _round_events(pid, i) if e[0] != 3]
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    bad = subprocess.run([sys.executable, "-m", "pybpf", "attach", str(obj), "--program", "on_site", "--usdt",
                          f"{app}:test:nosuch", "--pin-path", "/nonexistent"], capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.strip().endswith(f"no USDT probe test:nosuch in {app}")


def test_pybpf_trace_reads_the_same_arguments(built: tuple[str, Path]) -> None:
    """`pybpf trace` usdt probes use the same note parser: indexed (base+index*scale) operands included."""
    import io

    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import Child, TraceRun

    app, _ = built
    script = (f'usdt:{app}:test:sib {{ printf("%d %d\\n", arg0, arg1); }} '
              f'usdt:{app}:test:args {{ printf("%d %ld %d %d %ld %d\\n", arg0, arg1, arg2, arg3, arg4, arg5); }}')
    child = Child([app, "2"])
    try:
        out = io.StringIO()
        TraceRun(compile_script(script, cpid=child.pid), out).run(child)
    finally:
        child.kill()
    assert out.getvalue() == ("Attaching 2 probes...\n"
                              "0 10000000000 250 -300 7 -7\n0 0\n"
                              "-1 20000000000 251 -299 -993 -7\n22 33\n\n\n")


def test_semaphore_set_by_hand_where_the_kernel_cannot(built: tuple[str, Path], collection: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without uprobe ref_ctr_offset the semaphore is incremented in /proc/PID/mem (and needs a pid)."""
    from pybpf.kernel.link import usdt

    app, _ = built
    monkeypatch.setattr(usdt, "ref_ctr_supported", lambda: False)
    with pytest.raises(LoadError, match="needs a pid"):
        collection.attach_usdt("on_args", app, "test", "args")
    waiting = subprocess.Popen([app, "2", "wait"], stdin=subprocess.PIPE)
    try:
        link = collection.attach_usdt("on_args", app, "test", "args", pid=waiting.pid)
        with RingBuffer(collection.maps["events"]) as rb:
            assert waiting.stdin is not None
            waiting.stdin.write(b"x")
            waiting.stdin.close()
            assert waiting.wait(timeout=30) == 2  # both rounds saw the semaphore set
            link.close()  # the process has gone: undoing the increment is skipped quietly
            assert len(_events(rb)) == 2
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()


def test_position_independent_executable_without_cookies_or_ref_ctr(
        built: tuple[str, Path], pie: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The oldest kernels' path on a PIE: probe addresses and the semaphore found in the process's mappings."""
    from pybpf.kernel.link import usdt

    monkeypatch.setattr(usdt, "ref_ctr_supported", lambda: False)
    spec = load_file(built[1], kconfig={**system_kconfig(), "LINUX_HAS_BPF_COOKIE": "n"})
    with kernel_collection(Runtime("kernel", pin_path=None).load(spec)) as coll:
        with pytest.raises(LoadError, match="position-independent.*needs a pid"):
            coll.attach_usdt("on_site", pie, "test", "site")
        waiting = subprocess.Popen([pie, "2", "wait"], stdin=subprocess.PIPE)
        try:
            with RingBuffer(coll.maps["events"]) as rb, \
                    coll.attach_usdt("on_args", pie, "test", "args", pid=waiting.pid), \
                    coll.attach_usdt("on_site", pie, "test", "site", pid=waiting.pid, cookie=0xC00C1E):
                assert waiting.stdin is not None
                waiting.stdin.write(b"x")
                waiting.stdin.close()
                assert waiting.wait(timeout=30) == 2  # the semaphore, set in /proc/PID/mem
                expected = [e for i in range(2) for e in _round_events(waiting.pid, i) if e[0] != 2]
                assert _events(rb) == expected
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.wait()
