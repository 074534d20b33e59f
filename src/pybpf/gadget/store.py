"""The local gadget store: an OCI image layout (oci-layout, index.json, blobs/sha256/...) on disk.

Images are referenced as `NAME:TAG` (NAME may carry a registry host, `127.0.0.1:5000/execsnoop`);
every blob read back is checked against its digest, so a tampered store is refused, not run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pybpf.cachedir import user_cache_dir
from pybpf.errors import BpfError
from pybpf.gadget import CONFIG_MEDIA_TYPE, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, OBJECT_MEDIA_TYPE

REF_ANNOTATION = "org.opencontainers.image.ref.name"


class GadgetError(BpfError):
    """A gadget image is missing, malformed or fails its digest check."""


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_ref(ref: str) -> tuple[str, str]:
    """`NAME[:TAG]` -> (NAME, TAG); the tag defaults to `latest` (a `:` before the last `/` is a port)."""
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        name, tag = ref, "latest"
    if not name or not tag:
        raise GadgetError(f"bad image reference {ref!r} (expected NAME[:TAG])")
    return name, tag


def normalize(ref: str) -> str:
    name, tag = parse_ref(ref)
    return f"{name}:{tag}"


@dataclass(frozen=True)
class Image:
    """One stored image: its reference, manifest digest, and manifest/config documents."""

    ref: str
    digest: str
    manifest: dict[str, Any]
    config: dict[str, Any]


class Store:
    """An OCI image layout directory (created on first write)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else user_cache_dir() / "gadgets"

    # -- blobs -------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        algo, _, hexpart = digest.partition(":")
        if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
            raise GadgetError(f"unsupported digest {digest!r}")
        return self.root / "blobs" / "sha256" / hexpart

    def put_blob(self, data: bytes) -> str:
        digest = digest_of(data)
        path = self.blob_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return digest

    def get_blob(self, digest: str) -> bytes:
        """The blob's bytes, verified against `digest` (GadgetError when missing or tampered)."""
        path = self.blob_path(digest)
        try:
            data = path.read_bytes()
        except OSError:
            raise GadgetError(f"blob {digest} is missing from the store {self.root}") from None
        actual = digest_of(data)
        if actual != digest:
            raise GadgetError(f"blob {digest} in {self.root} is corrupt: its content hashes to {actual}")
        return data

    # -- index -------------------------------------------------------------------------------
    def _index(self) -> dict[str, Any]:
        try:
            index: dict[str, Any] = json.loads((self.root / "index.json").read_text())
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
        except (OSError, ValueError) as exc:
            raise GadgetError(f"unreadable {self.root / 'index.json'}: {exc}") from None
        return index

    def _write_index(self, index: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        layout = self.root / "oci-layout"
        if not layout.exists():
            layout.write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        tmp = self.root / f".index.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(index, indent=2))
        os.replace(tmp, self.root / "index.json")

    def tag(self, ref: str, manifest_digest: str, size: int) -> None:
        """Point `ref` at the stored manifest (replacing what it named before)."""
        ref = normalize(ref)
        index = self._index()
        manifests = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_ANNOTATION) != ref]
        manifests.append({"mediaType": MANIFEST_MEDIA_TYPE, "digest": manifest_digest, "size": size,
                          "annotations": {REF_ANNOTATION: ref}})
        index["manifests"] = manifests
        self._write_index(index)

    def add(self, ref: str, config: dict[str, Any], obj: bytes, annotations: dict[str, str]) -> Image:
        """Store an image built from `config` and the ELF object `obj`, tagged `ref`."""
        config_bytes = json.dumps(config, indent=2, sort_keys=True).encode()
        config_digest = self.put_blob(config_bytes)
        obj_digest = self.put_blob(obj)
        name = parse_ref(ref)[0].rsplit("/", 1)[-1]
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": len(config_bytes)},
            "layers": [{"mediaType": OBJECT_MEDIA_TYPE, "digest": obj_digest, "size": len(obj),
                        "annotations": {"org.opencontainers.image.title": f"{name}.o"}}],
            "annotations": annotations,
        }
        manifest_bytes = json.dumps(manifest, indent=2).encode()
        digest = self.put_blob(manifest_bytes)
        self.tag(ref, digest, len(manifest_bytes))
        return Image(normalize(ref), digest, manifest, config)

    def refs(self) -> list[tuple[str, str, int]]:
        """(reference, manifest digest, manifest size) of every tagged image, sorted."""
        out = []
        for m in self._index()["manifests"]:
            ref = m.get("annotations", {}).get(REF_ANNOTATION)
            if ref:
                out.append((ref, m["digest"], int(m.get("size", 0))))
        return sorted(out)

    def resolve(self, ref: str) -> str | None:
        ref = normalize(ref)
        for r, digest, _ in self.refs():
            if r == ref:
                return digest
        return None

    def image(self, ref: str) -> Image:
        """The image tagged `ref`, its manifest and config verified by digest."""
        digest = self.resolve(ref)
        if digest is None:
            raise GadgetError(f"no gadget image {normalize(ref)!r} in {self.root} (see `pybpf gadget list`)")
        manifest = _json(self.get_blob(digest), digest)
        config_desc = manifest.get("config") or {}
        if config_desc.get("mediaType") != CONFIG_MEDIA_TYPE:
            raise GadgetError(f"{normalize(ref)} is not a pybpf gadget (config media type "
                              f"{config_desc.get('mediaType')!r})")
        config = _json(self.get_blob(config_desc["digest"]), config_desc["digest"])
        return Image(normalize(ref), digest, manifest, config)

    def object_of(self, image: Image) -> bytes:
        """The ELF object layer of `image`, verified by digest."""
        for layer in image.manifest.get("layers", []):
            if layer.get("mediaType") == OBJECT_MEDIA_TYPE:
                return self.get_blob(layer["digest"])
        raise GadgetError(f"{image.ref} has no {OBJECT_MEDIA_TYPE} layer")

    def remove(self, ref: str) -> None:
        """Untag `ref` and delete the blobs no other image uses."""
        ref = normalize(ref)
        if self.resolve(ref) is None:
            raise GadgetError(f"no gadget image {ref!r} in {self.root}")
        index = self._index()
        index["manifests"] = [m for m in index["manifests"]
                              if m.get("annotations", {}).get(REF_ANNOTATION) != ref]
        self._write_index(index)
        keep: set[str] = set()
        for _, digest, _ in self.refs():
            keep.add(digest)
            try:
                manifest = json.loads(self.blob_path(digest).read_bytes())
                keep.update(d["digest"] for d in [manifest.get("config", {})] + manifest.get("layers", []) if d)
            except (OSError, ValueError, KeyError, TypeError):
                continue
        blobs = self.root / "blobs" / "sha256"
        for path in blobs.iterdir() if blobs.is_dir() else []:
            if f"sha256:{path.name}" not in keep:
                path.unlink(missing_ok=True)


def _json(data: bytes, digest: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise GadgetError(f"blob {digest} is not JSON") from None
    if not isinstance(value, dict):
        raise GadgetError(f"blob {digest} is not a JSON object")
    return value
