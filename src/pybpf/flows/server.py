"""`pybpf flows serve`: Starlette app with /metrics, /api/flows, /api/stream (SSE), /api/map and the web UI.

    app = make_app(observer)          # an Observer fed by a Datapath (or anything with read/stats)
    uvicorn.run(app, host="127.0.0.1", port=9965)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from pybpf.errors import BpfError
from pybpf.flows.filters import FlowFilters
from pybpf.flows.flow import Flow
from pybpf.flows.observer import Observer

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
WEB_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
             "/app.js": ("app.js", "text/javascript; charset=utf-8"),
             "/style.css": ("style.css", "text/css; charset=utf-8")}


def web_file(name: str) -> bytes:
    return (resources.files("pybpf.flows") / "web" / name).read_bytes()


def flow_json(flow: Flow, observer: Observer) -> dict[str, Any]:
    """Hubble's JSON plus the display names the UI uses (source_names/destination_names, as Hubble)."""
    doc = flow.to_hubble()
    for key, ip in (("source_names", flow.source), ("destination_names", flow.destination)):
        name = observer.names.get(ip)
        if name:
            doc["flow"][key] = [name]
    return doc


def _filters(request: Request) -> FlowFilters:
    return FlowFilters.from_query(request.query_params)


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        return max(0, int(value))
    except ValueError:
        raise BpfError(f"query parameter {name} must be a number, not {value!r}") from None


def make_app(observer: Observer, *, poll_interval: float = 0.1) -> Starlette:
    """The web application over a running (or to-be-started) Observer."""

    async def metrics(_: Request) -> Response:
        return Response(observer.metrics.exposition(), media_type=PROMETHEUS_TEXT)

    async def flows(request: Request) -> Response:
        try:
            filters = _filters(request)
            last = _int_param(request, "last", 0)
        except BpfError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        docs = [flow_json(f, observer) for f in observer.recent(filters, last)]
        return JSONResponse({"flows": docs, "status": observer.status()})

    async def service_map(_: Request) -> Response:
        return JSONResponse(observer.service_map())

    async def status(_: Request) -> Response:
        return JSONResponse(observer.status())

    async def stream(request: Request) -> Response:
        try:
            filters = _filters(request)
            last = _int_param(request, "last", 0)
        except BpfError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        sub = observer.subscribe(filters)
        backlog = observer.recent(filters, last) if last else []

        async def events() -> AsyncIterator[str]:
            try:
                for flow in backlog:
                    yield f"event: flow\ndata: {json.dumps(flow_json(flow, observer))}\n\n"
                ticks = 0
                while not await request.is_disconnected():
                    batch = sub.drain()
                    for flow in batch:
                        yield f"event: flow\ndata: {json.dumps(flow_json(flow, observer))}\n\n"
                    if not batch:
                        ticks += 1
                        if ticks % 50 == 0:
                            yield ": keep-alive\n\n"
                        await asyncio.sleep(poll_interval)
            finally:
                observer.unsubscribe(sub)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def static(request: Request) -> Response:
        name, media = WEB_FILES[request.url.path]
        return Response(web_file(name), media_type=media)

    async def health(_: Request) -> Response:
        if observer.error is not None:
            return PlainTextResponse(f"observer stopped: {observer.error}", status_code=500)
        return PlainTextResponse("ok")

    routes = [Route("/metrics", metrics), Route("/api/flows", flows), Route("/api/stream", stream),
              Route("/api/map", service_map), Route("/api/status", status), Route("/healthz", health)]
    routes += [Route(path, static) for path in WEB_FILES]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        observer.start()
        try:
            yield
        finally:
            observer.stop()

    return Starlette(routes=routes, lifespan=lifespan)


def parse_names(items: list[str]) -> dict[str, str]:
    """`--name IP=NAME` options -> {ip: name}."""
    import ipaddress

    names = {}
    for item in items:
        ip, sep, name = item.partition("=")
        if not sep or not name.strip():
            raise BpfError(f"--name takes IP=NAME, not {item!r}")
        try:
            ip = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            raise BpfError(f"--name {item!r}: {ip!r} is not an IP address") from None
        names[ip] = name.strip()
    return names


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`, or `:PORT` for all addresses) -> (host, port)."""
    host, sep, port_text = listen.rpartition(":")
    if not sep:
        raise BpfError(f"--listen takes HOST:PORT, not {listen!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise BpfError(f"--listen {listen!r}: port must be a number") from None
    if not 0 <= port <= 65535:
        raise BpfError(f"--listen {listen!r}: port out of range")
    return host.strip("[]") or "0.0.0.0", port


def check_listen(listen: str) -> tuple[str, int]:
    """Parse `listen` and make sure the address can be bound (a clear error before the datapath loads)."""
    import socket

    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise BpfError(f"cannot listen on {listen}: {exc.strerror}") from None
    return host, port


def serve(observer: Observer, listen: str, *, log_level: str = "warning") -> None:
    """Serve the app with uvicorn until interrupted."""
    import uvicorn

    host, port = parse_listen(listen)
    uvicorn.run(make_app(observer), host=host, port=port, log_level=log_level)
