"""Pushing a profile to a Pyroscope-style /ingest endpoint (a loopback server the test runs) as multipart pprof."""

from __future__ import annotations

import email
import email.message
import gzip
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pybpf.errors import LoadError
from pybpf.profile.model import Frame, Profile, Sample
from pybpf.profile.pprof import messages
from pybpf.profile.push import push

PROFILE = Profile([Sample(3, "app", (Frame("main"), Frame("work")), 12)], frequency=19, duration=5.0)


@pytest.fixture
def ingest() -> Iterator[tuple[str, list[dict[str, object]]]]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    received: list[dict[str, object]] = []

    async def handler(request: Request) -> PlainTextResponse:
        # the multipart body read with the standard library's MIME parser
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = email.message_from_bytes(head + await request.body())
        payload = message.get_payload()
        assert isinstance(payload, list)  # multipart: one Message a part
        parts = {}
        for part in payload:
            assert isinstance(part, email.message.Message)
            parts[part.get_param("name", header="content-disposition")] = part.get_payload(decode=True)
        received.append({"params": dict(request.query_params), "profile": parts["profile"]})
        return PlainTextResponse("ok")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/ingest", handler, methods=["POST"])]),
                                           log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}", received
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def test_push_sends_gzipped_pprof(ingest: tuple[str, list[dict[str, object]]]) -> None:
    address, received = ingest
    url = push(PROFILE, address, "myapp")
    assert url == f"http://{address}/ingest"
    params = received[0]["params"]
    assert isinstance(params, dict)
    assert params["name"] == "myapp{}" and params["format"] == "pprof" and params["sampleRate"] == "19"
    assert int(params["until"]) - int(params["from"]) == 5
    msg = messages()["Profile"]()
    raw = received[0]["profile"]
    assert isinstance(raw, bytes)
    msg.ParseFromString(gzip.decompress(raw))
    assert [list(s.value) for s in msg.sample] == [[12, 12 * (1_000_000_000 // 19)]]


def test_push_to_nowhere_is_a_clear_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(LoadError, match="cannot push the profile"):
        push(PROFILE, f"127.0.0.1:{port}", timeout=2)
