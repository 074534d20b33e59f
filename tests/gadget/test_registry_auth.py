"""Push and pull with registry authentication, against Debian's docker-registry started by the test:
HTTP Basic (htpasswd auth) and the bearer-token flow (token auth, with a token server run by the test)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from gadget_support import cache_fixture, serve_registry  # noqa: F401 - the fixture "cache"

from pybpf.cli.main import main
from pybpf.gadget.auth import parse_challenge
from pybpf.gadget.image import BUILTIN_DIR

EXECSNOOP = BUILTIN_DIR / "execsnoop.c"
SERVICE = "pbgadget-registry"
ISSUER = "pbgadget-token-issuer"


def _digest(out: str) -> str:
    return out.split()[-1]


def test_basic_auth_with_an_htpasswd_registry(cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # The registry writes a missing htpasswd file itself (bcrypt, user "docker", a random password)
    # and logs the password: no bcrypt library is needed on this side.
    auth = f"auth:\n  htpasswd:\n    realm: pbgadget\n    path: {tmp_path / 'htpasswd'}\n"
    with serve_registry(tmp_path, auth) as (host, _, log):
        for _ in range(100):
            found = re.search(r'password=(\S+) user=docker', log.read_text())
            if found:
                break
            time.sleep(0.05)
        assert found, log.read_text()
        password = found.group(1)
        ref = f"{host}/execsnoop:auth"
        assert main(["gadget", "build", str(EXECSNOOP), "-t", ref]) == 0
        built = _digest(capsys.readouterr().out)
        assert main(["gadget", "push", ref]) == 2  # anonymous: refused, and says how to log in
        err = capsys.readouterr().err.strip()
        assert "asks for a user and password" in err and "--user" in err and len(err.splitlines()) == 1
        assert main(["gadget", "push", ref, "--user", "docker:wrong"]) == 2
        assert "refused the credentials" in capsys.readouterr().err
        assert main(["gadget", "push", ref, "--user", f"docker:{password}"]) == 0
        assert _digest(capsys.readouterr().out) == built
        assert main(["gadget", "rm", ref]) == 0
        monkeypatch.setenv("PYBPF_REGISTRY_USER", "docker")
        monkeypatch.setenv("PYBPF_REGISTRY_PASSWORD", password)
        assert main(["gadget", "pull", ref]) == 0  # credentials from the environment
        assert _digest(capsys.readouterr().out) == built


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A token server for docker-registry's token auth: RS256 JWTs signed with openssl, the signing
    certificate in the x5c header; grants what the scope asks to alice:wonderland only."""

    def __init__(self, tmp_path: Path) -> None:
        self.key = tmp_path / "token.key"
        self.cert = tmp_path / "token.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                        "-out", str(self.cert), "-days", "1", "-subj", "/CN=pbgadget-token"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                query = parse_qs(urlparse(self.path).query)
                expected = "Basic " + base64.b64encode(b"alice:wonderland").decode()
                server.requests.append({"query": query, "authorized": self.headers.get("Authorization") == expected})
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": server.token(query.get("scope", [])), "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": ISSUER, "sub": "alice", "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": f"pbgadget-{now}-{len(self.requests)}", "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input.encode(), check=True, capture_output=True).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(name="token_server")
def token_server_fixture(tmp_path: Path) -> Iterator[TokenServer]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (the test's token server signs with it)")
    server = TokenServer(tmp_path)
    try:
        yield server
    finally:
        server.close()


def test_bearer_token_flow(cache: Path, tmp_path: Path, token_server: TokenServer,
                           capsys: pytest.CaptureFixture[str]) -> None:
    auth = (f"auth:\n  token:\n    realm: {token_server.realm}\n    service: {SERVICE}\n"
            f"    issuer: {ISSUER}\n    rootcertbundle: {token_server.cert}\n")
    with serve_registry(tmp_path, auth) as (host, _, _):
        ref = f"{host}/gadgets/execsnoop:token"
        assert main(["gadget", "build", str(EXECSNOOP), "-t", ref]) == 0
        built = _digest(capsys.readouterr().out)
        assert main(["gadget", "push", ref]) == 2  # no credentials: the token server says no
        err = capsys.readouterr().err.strip()
        assert "refused a token: HTTP 401" in err and len(err.splitlines()) == 1
        assert main(["gadget", "push", ref, "-u", "alice:wonderland"]) == 0
        assert _digest(capsys.readouterr().out) == built
        asked = [r["query"] for r in token_server.requests if r["authorized"]]
        assert asked and all(q["service"] == [SERVICE] for q in asked)
        scopes = {s for q in asked for s in q.get("scope", [])}
        # the registry's challenge lists the actions in either order
        assert scopes & {"repository:gadgets/execsnoop:pull,push", "repository:gadgets/execsnoop:push,pull"}
        assert main(["gadget", "rm", ref]) == 0
        assert main(["gadget", "pull", ref, "-u", "alice:wonderland"]) == 0
        assert _digest(capsys.readouterr().out) == built


def test_challenges_parse() -> None:
    assert parse_challenge('Bearer realm="https://auth.example/token",service="reg",'
                           'scope="repository:a/b:pull,push"') == (
        "bearer", {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"})
    assert parse_challenge('Basic realm="pbgadget"') == ("basic", {"realm": "pbgadget"})
    assert parse_challenge("") == ("", {})
