"""The webapp's request hook: the context struct, the ASGI middleware that fires it, the application.

The middleware works with any ASGI application; `create_app` wraps a tiny Starlette service with
it and adds `GET /-/maps`, the attached programs' maps decoded through BTF (what the policy has
counted), so a browser or `curl` sees the same state the program keeps.
"""

from __future__ import annotations

import ctypes
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pybpf.errors import LoadError
from pybpf.hooks.hookpoint import HookPoint

HOOK_NAME = "webapp:request"
POLICY = Path(__file__).with_name("ratelimit.c")
PATH_MAX_LEN = 64

METHODS = {"GET": 1, "HEAD": 2, "POST": 3, "PUT": 4, "DELETE": 5, "PATCH": 6, "OPTIONS": 7}
"""enum http_method of ratelimit.c (0: any other method)."""

VERDICTS: dict[int, tuple[int, str]] = {1: (429, "Too Many Requests"), 2: (403, "Forbidden")}
"""What the application does with a non-zero verdict: (HTTP status, body). Others give 403."""


class HttpRequest(ctypes.Structure):
    """struct http_request of ratelimit.c: what a policy sees of a request (88 bytes, read-only)."""

    _fields_ = [
        ("client", ctypes.c_uint32),
        ("method", ctypes.c_uint32),
        ("now_ns", ctypes.c_uint64),
        ("content_length", ctypes.c_uint32),
        ("path_len", ctypes.c_uint32),
        ("path", ctypes.c_char * PATH_MAX_LEN),
    ]


def request_context(scope: Mapping[str, Any]) -> HttpRequest:
    """The hook context of an ASGI HTTP request scope."""
    client = 0
    peer = scope.get("client")
    if peer and ":" not in peer[0]:
        try:
            client = int.from_bytes(socket.inet_aton(peer[0]), "big")
        except OSError:
            client = 0
    length = 0
    for name, value in scope.get("headers") or ():
        if name == b"content-length" and value.isdigit():
            length = min(int(value), 0xFFFFFFFF)
    path = str(scope.get("path") or "/").encode("utf-8", "replace")
    return HttpRequest(client=client, method=METHODS.get(str(scope.get("method", "")).upper(), 0),
                       now_ns=time.monotonic_ns(), content_length=length,
                       path_len=min(len(path), PATH_MAX_LEN), path=path[:PATH_MAX_LEN])


class HookMiddleware:
    """ASGI middleware: fire `hook` for every HTTP request, refuse it when the verdict is non-zero."""

    def __init__(self, app: Any, hook: HookPoint) -> None:
        self.app = app
        self.hook = hook

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith("/-/"):
            await self.app(scope, receive, send)
            return
        verdict = self.hook.fire(request_context(scope))
        if verdict == 0:
            await self.app(scope, receive, send)
            return
        from starlette.responses import PlainTextResponse

        status, text = VERDICTS.get(verdict, (403, "Forbidden"))
        response = PlainTextResponse(f"{text} (verdict {verdict})\n", status_code=status,
                                     headers={"X-Hook-Verdict": str(verdict)})
        await response(scope, receive, send)


def load_policy(hook: HookPoint, source: str | os.PathLike[str] = POLICY, *,
                globals: Mapping[str, int | str | bytes] | None = None) -> Any:
    """Compile (C) or read (object) `source`, set its `const volatile` globals (text for a char
    array is NUL-padded to its size), attach it to `hook`; the object's BTF (to decode its maps)."""
    from pybpf.object import load_file
    from pybpf.object.skeleton import with_globals

    path = Path(source)
    if not path.is_file():
        raise LoadError(f"no such policy file: {path}")
    if path.suffix == ".c":
        from pybpf.toolchain import compile_c

        path = Path(compile_c(path))
    spec = load_file(str(path))
    spec = with_globals(spec, _sized(spec, dict(globals or {})))
    hook.attach(spec)
    return spec.btf


def _sized(spec: Any, values: dict[str, int | str | bytes]) -> dict[str, int | bytes]:
    from pybpf.btf.types import Kind

    sizes: dict[str, int] = {}
    for name, m in spec.maps.items():
        sec = spec.btf.find(m.section or name, Kind.DATASEC) if spec.btf is not None else None
        for info in sec.secinfos if sec is not None else ():
            sizes[spec.btf.type(info.type_id).name] = info.size
    out: dict[str, int | bytes] = {}
    for name, value in values.items():
        if not isinstance(value, str):
            out[name] = value
            continue
        if name not in sizes:
            raise LoadError(f"the policy has no global variable {name!r} (it has: {', '.join(sizes) or 'none'})")
        raw = value.encode()
        if len(raw) >= sizes[name]:
            raise LoadError(f"{name}: {value!r} does not fit in {sizes[name] - 1} characters")
        out[name] = raw.ljust(sizes[name], b"\0")
    return out


def maps_json(hook: HookPoint, btf: Any) -> dict[str, Any]:
    """Every map of the attached programs, decoded through `btf` (the `.rodata` settings included)."""
    from pybpf.btf.entries import map_dump

    return {name: map_dump(m, btf) for name, m in hook.maps.items()}


def create_app(hook: HookPoint, btf: Any = None) -> Any:
    """The demo service: `GET /` and `/hello/{name}` answer, `/admin/...` too unless the policy
    refuses it; `GET /-/maps` shows the policy's maps (never passed through the hook)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def index(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello from pybpf.hooks.webapp\n")

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello, {request.path_params['name']}\n")

    async def admin(request: Request) -> PlainTextResponse:
        return PlainTextResponse("admin area\n")

    async def maps(request: Request) -> JSONResponse:
        return JSONResponse(maps_json(hook, btf))

    app = Starlette(routes=[Route("/", index), Route("/hello/{name}", hello),
                            Route("/admin/{rest:path}", admin), Route("/-/maps", maps)])
    return HookMiddleware(app, hook)
