"""The "eBPF inside" example end to end: `python -m pybpf.hooks.webapp` serves real HTTP on 127.0.0.1,
every request runs the shipped ratelimit.c policy (interpreter, JIT, kernel), the app acts on its verdict."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from pybpf.hooks.webapp.app import HttpRequest, request_context

WINDOW_NS = 3600 * 10**9  # one hour: the test never crosses a rate-limit window


def _client_id(address: str) -> int:
    return int(ipaddress.IPv4Address(address))


class Service:
    def __init__(self, proc: subprocess.Popen[str], base: str) -> None:
        self.proc = proc
        self.base = base

    def get(self, path: str, client: str = "127.0.0.1") -> httpx.Response:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=client), timeout=30) as c:
            return c.get(self.base + path)


def _start(*args: str) -> Iterator[Service]:
    proc = subprocess.Popen([sys.executable, "-m", "pybpf.hooks.webapp", "--port", "0",
                             "--param", "limit=3", "--param", f"window_ns={WINDOW_NS}", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        line = proc.stderr.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line + proc.stderr.read()
        yield Service(proc, line.split()[2])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(name="service", params=["interp", "jit"])
def service_fixture(request: pytest.FixtureRequest) -> Iterator[Service]:
    yield from _start("--engine", request.param)


def _exercise(service: Service) -> None:
    """Four requests from 127.0.0.2 (limit 3), one from 127.0.0.3, one to /admin."""
    codes = [service.get("/", client="127.0.0.2").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = service.get("/hello/x", client="127.0.0.2")
    assert limited.status_code == 429 and limited.headers["x-hook-verdict"] == "1"
    ok = service.get("/hello/bpf", client="127.0.0.3")
    assert (ok.status_code, ok.text) == (200, "hello, bpf\n")
    admin = service.get("/admin/settings", client="127.0.0.3")
    assert (admin.status_code, admin.headers["x-hook-verdict"]) == (403, "2")


def test_the_policy_limits_and_filters_real_requests(service: Service) -> None:
    _exercise(service)
    maps = service.get("/-/maps").json()  # /-/ paths bypass the hook
    clients = {e["formatted"]["key"]: e["formatted"]["value"] for e in maps["clients"]["entries"]}
    assert set(clients) == {_client_id("127.0.0.2"), _client_id("127.0.0.3")}
    two = clients[_client_id("127.0.0.2")]
    assert (two["allowed"], two["limited"], two["in_window"]) == (3, 2, 3)
    three = clients[_client_id("127.0.0.3")]
    assert (three["allowed"], three["limited"]) == (1, 0)
    verdicts = {e["formatted"]["key"]: e["formatted"]["value"] for e in maps["verdicts"]["entries"]}
    assert verdicts == {0: 4, 1: 2, 2: 1}
    settings = maps[".rodata"]["entries"][0]["formatted"]["value"]
    assert settings == {"limit": 3, "window_ns": WINDOW_NS, "blocked_prefix": "/admin"}


def test_a_text_param_changes_the_blocked_prefix() -> None:
    for service in _start("--engine", "jit", "--param", "blocked_prefix=/private"):
        assert service.get("/admin/x").status_code == 200
        assert service.get("/private").status_code == 403


@pytest.mark.kernel
def test_kernel_engine_pins_the_maps_for_pybpf_map_dump() -> None:
    if os.geteuid() != 0:
        pytest.skip("the kernel engine needs root for bpf()")
    pin = f"/sys/fs/bpf/pbgadget-webapp-{os.getpid()}"
    try:
        for service in _start("--engine", "kernel", "--pin", pin):
            _exercise(service)
            dump = subprocess.run([sys.executable, "-m", "pybpf", "map", "dump", f"{pin}/clients", "--json"],
                                  capture_output=True, text=True, timeout=120)
            assert dump.returncode == 0, dump.stderr
            rows = json.loads(dump.stdout)
            entries = rows if isinstance(rows, list) else rows["entries"]
            clients = {e["formatted"]["key"]: e["formatted"]["value"] for e in entries}
            assert clients[_client_id("127.0.0.2")]["limited"] == 2
            assert clients[_client_id("127.0.0.3")]["allowed"] == 1
        assert not os.path.exists(f"{pin}/clients")  # unpinned when the service stops
    finally:
        shutil.rmtree(pin, ignore_errors=True)


def test_request_context_of_an_asgi_scope() -> None:
    scope = {"type": "http", "method": "POST", "path": "/upload/" + "x" * 100, "client": ("10.1.2.3", 5555),
             "headers": [(b"content-length", b"42")]}
    ctx = request_context(scope)
    assert isinstance(ctx, HttpRequest)
    assert (ctx.client, ctx.method, ctx.content_length, ctx.path_len) == (0x0A010203, 3, 42, 64)
    assert ctx.path == b"/upload/" + b"x" * 56
    v6 = request_context({"type": "http", "method": "BREW", "path": "/", "client": ("::1", 1), "headers": []})
    assert (v6.client, v6.method, v6.path) == (0, 0, b"/")


def test_a_missing_policy_is_a_one_line_error() -> None:
    out = subprocess.run([sys.executable, "-m", "pybpf.hooks.webapp", "/nonexistent/policy.c", "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == "error: no such policy file: /nonexistent/policy.c"
