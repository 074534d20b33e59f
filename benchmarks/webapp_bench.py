"""pybpf.hooks.webapp: what the eBPF request hook costs an HTTP service, per request.

Run: `.venv/bin/python benchmarks/webapp_bench.py [--quick]`. Drives the demo's Starlette
application through ASGI in-process (no sockets, so the figure is the application's own work) and
prints µs per request and the ratio to the same application without the hook, measured in the same
run, with the shipped ratelimit.c policy on the JIT, the interpreter and (as root) the kernel
(BPF_PROG_TEST_RUN per request); then the bare `HookPoint.fire()` on each engine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

ALLOW_ALL = {"limit": 1 << 62}


def _scope(i: int) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": f"/hello/{i % 7}", "raw_path": f"/hello/{i % 7}".encode(), "root_path": "", "query_string": b"",
            "headers": [(b"host", b"bench")], "client": (f"127.0.0.{i % 5 + 1}", 40000), "server": ("127.0.0.1", 80)}


async def _drive(app: Any, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.perf_counter()
    for i in range(n):
        await app(_scope(i), receive, send)
    elapsed = time.perf_counter() - start
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses {sorted(set(statuses))}")
    return elapsed / n * 1e6


def per_request(engine: str | None, n: int) -> float:
    from pybpf.hooks.hookpoint import HookPoint
    from pybpf.hooks.webapp.app import HOOK_NAME, HttpRequest, create_app, load_policy

    hook = HookPoint(HOOK_NAME, context=HttpRequest, engine=engine or "jit")
    try:
        app = create_app(hook)
        if engine is None:
            app = app.app  # the Starlette application without the middleware
        else:
            load_policy(hook, globals=ALLOW_ALL)
        asyncio.run(_drive(app, n // 10))  # warm up
        return min(asyncio.run(_drive(app, n)) for _ in range(3))
    finally:
        hook.close()


def fire_cost(engine: str, n: int) -> float:
    from pybpf.hooks.hookpoint import HookPoint
    from pybpf.hooks.webapp.app import HOOK_NAME, HttpRequest, load_policy, request_context

    with HookPoint(HOOK_NAME, context=HttpRequest, engine=engine) as hook:
        load_policy(hook, globals=ALLOW_ALL)
        ctx = request_context(_scope(1))
        for _ in range(n // 10):
            hook.fire(ctx)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(n):
                hook.fire(ctx)
            best = min(best, (time.perf_counter() - start) / n * 1e6)
        return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n = 2000 if args.quick else 20000
    engines = ["jit", "interp"] + (["kernel"] if os.geteuid() == 0 else [])
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{n} requests per run, best of 3")
    base = per_request(None, n)
    print(f"{'application':<28}{'µs/request':>12}{'× no hook':>11}")
    print(f"{'Starlette, no hook':<28}{base:>12.1f}{1.0:>11.2f}")
    for engine in engines:
        us = per_request(engine, n)
        print(f"{'+ ratelimit.c on ' + engine:<28}{us:>12.1f}{us / base:>11.2f}")
    print(f"\n{'HookPoint.fire() alone':<28}{'µs/fire':>12}")
    for engine in engines:
        print(f"{engine:<28}{fire_cost(engine, n):>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
