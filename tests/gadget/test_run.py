"""`pybpf gadget run NAME` in the kernel while a workload execs and opens files: the expected rows."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from gadget_support import cache_fixture  # noqa: F401 - the fixture "cache"

from pybpf.gadget.image import ensure
from pybpf.gadget.runner import run
from pybpf.gadget.store import Store

PYBPF = [sys.executable, "-m", "pybpf"]


@pytest.mark.kernel
def test_execsnoop_by_name_reports_an_exec_as_json(cache: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pbgadget-exec-marker"
    shutil.copy("/bin/true", marker)
    env = dict(os.environ, PYBPF_CACHE_DIR=str(cache))
    proc = subprocess.Popen([*PYBPF, "gadget", "run", "execsnoop", "--duration", "4", "-o", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "running execsnoop:latest" once the program is attached
    assert first.startswith("running execsnoop:latest"), first + proc.stderr.read()
    child = subprocess.run([str(marker)], check=True)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    mine = [r for r in rows if r.get("filename") == str(marker)]
    assert mine, rows[:20]
    assert mine[0]["comm"] == "pbgadget-exec-m"  # the kernel keeps 15 characters of the name
    assert mine[0]["uid"] == os.getuid()
    assert set(mine[0]) == {"pid", "tid", "uid", "comm", "filename"}
    assert child.returncode == 0


@pytest.mark.kernel
def test_opensnoop_with_a_param_and_its_metric(cache: Path, tmp_path: Path) -> None:
    store = Store()
    image = ensure("opensnoop", store)
    target = tmp_path / "pbgadget-opened.txt"
    target.write_text("x")
    rows: list[dict[str, Any]] = []
    ready = threading.Event()
    stop = threading.Event()
    result: dict[str, Any] = {}

    def worker() -> None:
        result["metrics"] = run(image, store, rows.append, params={"target_pid": os.getpid()},
                                stop=stop, on_ready=ready.set, listen=f"127.0.0.1:{port}")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert ready.wait(60), "the gadget did not attach"
        for _ in range(3):
            with open(target) as f:
                f.read()
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    finally:
        stop.set()
        thread.join(60)
    mine = [r for r in rows if r["fname"] == str(target)]
    assert len(mine) == 3, rows
    assert {r["pid"] for r in rows} == {os.getpid()}  # target_pid filtered every other process
    assert mine[0]["comm"] == Path("/proc/self/comm").read_text().strip()
    opens = result["metrics"]["opens"]["entries"]
    counts = {e["formatted"]["key"]: e["formatted"]["value"] for e in opens}
    assert list(counts) == [os.getpid()]
    assert counts[os.getpid()] >= 3
    # the same map, scraped by Prometheus while the gadget ran: a counter, the key is the label
    assert "# TYPE pybpf_gadget_opensnoop_opens_total counter" in scraped
    samples = [line for line in scraped.splitlines() if line.startswith("pybpf_gadget_opensnoop_opens_total{")]
    assert len(samples) == 1, scraped
    assert samples[0].startswith(f'pybpf_gadget_opensnoop_opens_total{{key="{os.getpid()}"}} ')
    assert float(samples[0].split()[-1]) >= 3


@pytest.mark.kernel
def test_tcpconnect_reports_loopback_connects_from_a_perf_buffer(cache: Path) -> None:
    store = Store()
    image = ensure("tcpconnect", store)
    rows: list[dict[str, Any]] = []
    ready = threading.Event()
    stop = threading.Event()
    thread = threading.Thread(target=lambda: run(image, store, rows.append, params={"target_pid": os.getpid()},
                                                 stop=stop, on_ready=ready.set))
    thread.start()
    try:
        assert ready.wait(60), "the gadget did not attach"
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            open_port = server.getsockname()[1]
            with socket.create_connection(("127.0.0.1", open_port)) as client:
                client_port = client.getsockname()[1]
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))  # bound, never listening: a connect is refused
            closed_port = closed.getsockname()[1]
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", closed_port))
    finally:
        stop.set()  # the last events are read after the stop
        thread.join(60)
    assert [(r["dport"], r["state"]) for r in rows] == [(open_port, "TCP_ESTABLISHED"), (closed_port, "TCP_CLOSE")]
    first = rows[0]
    assert first["sport"] == client_port
    assert (first["family"], first["saddr"], first["daddr"]) == ("AF_INET", "127.0.0.1", "127.0.0.1")
    assert (first["pid"], first["uid"]) == (os.getpid(), os.getuid())
    assert first["comm"] == Path("/proc/self/comm").read_text().strip()
