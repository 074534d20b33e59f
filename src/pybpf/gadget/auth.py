"""Registry authentication for push and pull: HTTP Basic and the bearer-token flow of the distribution spec.

A registry that wants credentials answers 401 with a `WWW-Authenticate` challenge. `Basic realm=...`:
the request is sent again with the user and password. `Bearer realm=URL,service=S,scope=...`: a
token is fetched from the realm (`GET URL?service=S&scope=...`, with the user and password as
Basic credentials when there are any, anonymously otherwise), and the request is sent again with
`Authorization: Bearer TOKEN`; the token is reused until the registry refuses it.

Credentials come from `--user USER:PASSWORD` or the environment (`PYBPF_REGISTRY_USER`,
`PYBPF_REGISTRY_PASSWORD`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from pybpf.gadget.store import GadgetError

ENV_USER = "PYBPF_REGISTRY_USER"
ENV_PASSWORD = "PYBPF_REGISTRY_PASSWORD"

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def credentials(user: str | None = None) -> Credentials | None:
    """`USER:PASSWORD` (a flag), else the environment, else None (anonymous)."""
    if user:
        name, sep, password = user.partition(":")
        if not name:
            raise GadgetError(f"--user takes USER:PASSWORD, not {user!r}")
        if not sep:
            password = os.environ.get(ENV_PASSWORD, "")
        return Credentials(name, password)
    env_user = os.environ.get(ENV_USER)
    return Credentials(env_user, os.environ.get(ENV_PASSWORD, "")) if env_user else None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="https://auth",service="reg",scope="repository:x:pull"` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        params[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return scheme.lower(), params


class RegistryAuth(httpx.Auth):
    """httpx authentication answering a registry's Basic or Bearer challenge."""

    requires_response_body = True

    def __init__(self, creds: Credentials | None) -> None:
        self.creds = creds
        self.header: str | None = None  # the Authorization that worked last

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.header is not None:
            request.headers["Authorization"] = self.header
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_challenge(response.headers.get("www-authenticate", ""))
        if scheme == "basic":
            if self.creds is None:
                raise GadgetError(f"the registry asks for a user and password (realm {params.get('realm', '?')!r}): "
                                  f"give --user USER:PASSWORD or set {ENV_USER} and {ENV_PASSWORD}")
            basic = httpx.BasicAuth(self.creds.username, self.creds.password)
            self.header = next(basic.auth_flow(request)).headers["Authorization"]
        elif scheme == "bearer":
            realm = params.get("realm")
            if not realm:
                raise GadgetError("the registry's Bearer challenge names no realm to get a token from")
            query: dict[str, str] = {k: params[k] for k in ("service", "scope") if k in params}
            token_request = httpx.Request("GET", realm, params=query)
            if self.creds is not None:
                token_request = next(httpx.BasicAuth(self.creds.username, self.creds.password)
                                     .auth_flow(token_request))
            token_response = yield token_request
            if token_response.status_code != 200:
                raise GadgetError(f"the token server {realm} refused a token: HTTP {token_response.status_code}"
                                  + ("" if self.creds else
                                     f" (no credentials given: --user USER:PASSWORD or {ENV_USER})"))
            try:
                body = token_response.json()
                token = body.get("token") or body.get("access_token")
            except ValueError:
                token = None
            if not isinstance(token, str) or not token:
                raise GadgetError(f"the token server {realm} answered without a token")
            self.header = f"Bearer {token}"
        else:
            return
        request.headers["Authorization"] = self.header
        response = yield request
        if response.status_code == 401:
            self.header = None
            raise GadgetError("the registry refused the credentials (HTTP 401)")
