"""A policy for an application's hook point distributed as a gadget: build ratelimit.c, push it to a
real registry, drop the local copy, pull it, attach it to the webapp's HookPoint (interp and JIT)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gadget_support import cache_fixture, registry_fixture  # noqa: F401 - fixtures "cache", "registry"

from pybpf.cli.main import main
from pybpf.gadget.image import load_spec
from pybpf.hooks.hookpoint import HookPoint
from pybpf.hooks.webapp.app import HOOK_NAME, POLICY, HttpRequest
from pybpf.object.skeleton import with_globals


def _request(client: int, path: bytes = b"/") -> HttpRequest:
    return HttpRequest(client=client, method=1, now_ns=1000, path_len=len(path), path=path)


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_a_hook_policy_through_a_registry(cache: Path, registry: tuple[str, Path], engine: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    host, _ = registry
    ref = f"{host}/policies/ratelimit:v1"
    assert main(["gadget", "build", str(POLICY), "-t", ref]) == 0
    assert main(["gadget", "push", ref]) == 0
    assert main(["gadget", "rm", ref]) == 0
    assert main(["gadget", "pull", ref]) == 0
    assert main(["gadget", "inspect", ref]) == 0
    out = capsys.readouterr().out
    config = json.loads(out[out.index("{"):])["config"]
    assert config["programs"] == [{"name": "ratelimit", "section": "hook/webapp:request", "type": "UNSPEC",
                                   "hook": "webapp:request"}]
    assert {p["name"]: p["default"] for p in config["params"]}["limit"] == 5
    with HookPoint(HOOK_NAME, context=HttpRequest, engine=engine) as hook:
        hook.attach(with_globals(load_spec(ref), {"limit": 2}))
        assert [hook.fire(_request(7)) for _ in range(3)] == [0, 0, 1]
        assert hook.fire(_request(8, b"/admin/x")) == 2
    # the kernel runner refuses it with a clear word instead of failing to load it
    assert main(["gadget", "run", ref, "--duration", "1"]) == 2
    assert "is for the application hook point 'webapp:request'" in capsys.readouterr().err
