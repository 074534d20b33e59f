"""Push and pull gadgets through a real OCI registry (Debian's docker-registry) started by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gadget_support import cache_fixture, registry_fixture  # noqa: F401 - fixtures "cache", "registry"

from pybpf.cli.main import main
from pybpf.gadget.image import BUILTIN_DIR

EXECSNOOP = BUILTIN_DIR / "execsnoop.c"


def test_build_push_rm_pull_inspect(cache: Path, registry: tuple[str, Path],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    host, _ = registry
    ref = f"{host}/gadgets/execsnoop:v1"
    assert main(["gadget", "build", str(EXECSNOOP), "-t", ref]) == 0
    built_digest = capsys.readouterr().out.split()[-1]
    assert main(["gadget", "push", ref]) == 0
    assert capsys.readouterr().out.split()[-1] == built_digest
    assert main(["gadget", "rm", ref]) == 0
    assert main(["gadget", "inspect", ref]) == 2
    capsys.readouterr()
    assert main(["gadget", "pull", ref]) == 0
    assert capsys.readouterr().out.split()[-1] == built_digest
    assert main(["gadget", "inspect", ref]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["digest"] == built_digest
    assert [c["name"] for c in shown["config"]["columns"]] == ["pid", "tid", "uid", "comm", "filename"]


def test_a_tampered_registry_blob_is_refused(cache: Path, registry: tuple[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    host, root = registry
    ref = f"{host}/execsnoop:v2"
    assert main(["gadget", "build", str(EXECSNOOP), "-t", ref]) == 0
    assert main(["gadget", "push", ref]) == 0
    assert main(["gadget", "inspect", ref]) == 0
    assert main(["gadget", "rm", ref]) == 0
    capsys.readouterr()
    # the registry's own storage: blobs/sha256/<2 hex>/<hex>/data; flip a byte of the ELF layer
    blobs = root / "docker" / "registry" / "v2" / "blobs" / "sha256"
    elf = [p for p in blobs.glob("*/*/data") if p.read_bytes()[:4] == b"\x7fELF"]
    assert len(elf) == 1
    data = bytearray(elf[0].read_bytes())
    data[-1] ^= 0xFF
    elf[0].write_bytes(bytes(data))
    assert main(["gadget", "pull", ref]) == 2
    err = capsys.readouterr().err
    assert "fails verification" in err and len(err.strip().splitlines()) == 1
    assert main(["gadget", "inspect", ref]) == 2  # nothing was stored
