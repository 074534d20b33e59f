"""`pybpf gadget build|list|inspect|rm` on the local OCI image layout, and its digest checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from gadget_support import cache_fixture  # noqa: F401 - the fixture "cache"

from pybpf.cli.main import main
from pybpf.gadget.image import BUILTIN_DIR

OPENSNOOP = BUILTIN_DIR / "opensnoop.c"


def _build(capsys: pytest.CaptureFixture[str], ref: str = "opens:v1") -> None:
    assert main(["gadget", "build", str(OPENSNOOP), "-t", ref,
                 "--manifest", str(OPENSNOOP.with_suffix(".yaml"))]) == 0
    assert f"built {ref} sha256:" in capsys.readouterr().out


def test_build_writes_an_oci_image_layout(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _build(capsys)
    root = cache / "gadgets"
    assert json.loads((root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((root / "index.json").read_text())
    [entry] = index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "opens:v1"
    assert entry["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    for blob in (root / "blobs" / "sha256").iterdir():  # content addressed
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    manifest = json.loads((root / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes())
    assert manifest["config"]["mediaType"] == "application/vnd.pybpf.gadget.config.v1+json"
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.pybpf.gadget.object.v1+elf"
    obj = (root / "blobs" / "sha256" / layer["digest"].split(":")[1]).read_bytes()
    assert obj[:4] == b"\x7fELF"

    assert main(["gadget", "inspect", "opens:v1"]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert config["name"] == "opensnoop"
    assert [(c["name"], c["type"]) for c in config["columns"]] == [
        ("pid", "__u32"), ("uid", "__u32"), ("flags", "__u32"), ("comm", "char [16]"), ("fname", "char [160]")]
    assert [(p["name"], p["size"], p["default"]) for p in config["params"]] == [("target_pid", 4, 0)]
    assert config["programs"] == [{"name": "opensnoop", "section": "tracepoint/syscalls/sys_enter_openat",
                                   "type": "TRACEPOINT"}]
    assert config["metrics"] == [{"map": "opens", "type": "counter"}]

    assert main(["gadget", "list"]) == 0
    assert "opens:v1" in capsys.readouterr().out


def test_rm_deletes_the_image_and_its_blobs(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _build(capsys)
    assert main(["gadget", "rm", "opens:v1"]) == 0
    assert list((cache / "gadgets" / "blobs" / "sha256").iterdir()) == []
    assert main(["gadget", "inspect", "opens:v1"]) == 2
    assert "no gadget image 'opens:v1'" in capsys.readouterr().err


def test_a_tampered_local_layer_is_refused(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _build(capsys)
    root = cache / "gadgets"
    digest = json.loads((root / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((root / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())
    layer = root / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    data = bytearray(layer.read_bytes())
    data[-1] ^= 0xFF
    layer.write_bytes(bytes(data))
    assert main(["gadget", "inspect", "opens:v1"]) == 2
    err = capsys.readouterr().err
    assert "is corrupt" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["gadget", "build", "/nonexistent.c", "-t", "x"], "no such C source"),
    (["gadget", "inspect", "nothing:here"], "no gadget image"),
    (["gadget", "push", "noregistry:v1"], "names no registry"),
    (["gadget", "run", "opensnoop", "--param", "nope=1"], "has no parameter 'nope'"),
    (["gadget", "run", "opensnoop", "--param", "target_pid=x"], "'x' is not an integer"),
    (["gadget", "run", "opensnoop", "--param", "target_pid=0x1ffffffff"], "does not fit in 32 bits"),
])
def test_bad_input_is_one_line(cache: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                               message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_builtin_gadgets_are_package_data() -> None:
    import fnmatch
    import tomllib

    from pybpf.gadget.image import builtin_gadgets

    root = BUILTIN_DIR.parent.parent
    globs = tomllib.loads((root.parent.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["pybpf"]
    assert sorted(builtin_gadgets()) == ["execsnoop", "opensnoop", "portcount", "tcpconnect"]
    for path in BUILTIN_DIR.iterdir():
        relative = path.relative_to(root).as_posix()
        assert any(fnmatch.fnmatch(relative, g) for g in globs), relative
    webapp = BUILTIN_DIR.parent.parent / "hooks" / "webapp" / "ratelimit.c"
    assert any(fnmatch.fnmatch(webapp.relative_to(root).as_posix(), g) for g in globs)


def test_a_stale_builtin_image_is_rebuilt_but_a_users_own_is_kept(cache: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.gadget.image import BUILTIN_ANNOTATION, ensure
    from pybpf.gadget.store import Store

    store = Store()
    first = ensure("opensnoop", store)
    assert BUILTIN_ANNOTATION in first.manifest["annotations"]
    assert ensure("opensnoop", store).digest == first.digest  # current: not rebuilt
    # an image of an older pybpf: same name, another built-in digest, an older config
    old_config = {**first.config, "metrics": [{"map": "opens"}]}
    store.add("opensnoop:latest", old_config, store.object_of(first),
              {**first.manifest["annotations"], BUILTIN_ANNOTATION: "0" * 64})
    rebuilt = ensure("opensnoop", store)
    assert rebuilt.config["metrics"] == [{"map": "opens", "type": "counter"}]
    assert rebuilt.manifest["annotations"][BUILTIN_ANNOTATION] == first.manifest["annotations"][BUILTIN_ANNOTATION]
    # the user's own image under a built-in's name (no built-in annotation) is what runs
    _build(capsys, "opensnoop:latest")
    mine = ensure("opensnoop", store)
    assert BUILTIN_ANNOTATION not in mine.manifest["annotations"]


@pytest.mark.parametrize("metrics, message", [
    ("metrics: [{map: opens, type: summary}]", "must be a map name or {map: NAME, type: gauge|counter}"),
    ("metrics: [{map: nosuch}]", "names 'nosuch', not a map of the object"),
    ("metrics: opens", "metrics must be a list"),
])
def test_bad_metric_entries_are_one_line(cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         metrics: str, message: str) -> None:
    manifest = tmp_path / "gadget.yaml"
    manifest.write_text(metrics + "\n")
    assert main(["gadget", "build", str(OPENSNOOP), "-t", "bad:v1", "--manifest", str(manifest)]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
