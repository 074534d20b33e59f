"""Fixtures for the gadget tests (imported by the test modules): a private store, a real OCI registry."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REGISTRY = "/usr/bin/docker-registry"


@pytest.fixture(name="cache")
def cache_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private PYBPF_CACHE_DIR: the gadget store lands in its `gadgets/`."""
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_registry(tmp_path: Path, extra_config: str = "", name: str = "registry") -> Iterator[tuple[str, Path, Path]]:
    """Debian's docker-registry on 127.0.0.1:<free port> with `extra_config` (YAML, e.g. an auth
    section) appended: (host:port, storage root, its log file)."""
    if shutil.which(REGISTRY) is None:
        pytest.skip(f"{REGISTRY} (Debian package docker-registry) is not installed")
    root = tmp_path / name
    port = _free_port()
    config = tmp_path / f"{name}.yml"
    log = tmp_path / f"{name}.log"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: pbgadget-test-secret\n" + extra_config)
    with log.open("wb") as out:
        proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"docker-registry exited with status {proc.returncode}: {log.read_text()[-2000:]}")
                time.sleep(0.05)
        else:
            pytest.fail("docker-registry did not start listening")
        yield f"127.0.0.1:{port}", root, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(name="registry")
def registry_fixture(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Debian's docker-registry serving on 127.0.0.1:<free port>: (host:port, storage root)."""
    with serve_registry(tmp_path) as (host, root, _):
        yield host, root
