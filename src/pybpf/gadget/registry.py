"""Push and pull gadget images with the OCI distribution API (httpx).

`REGISTRY/NAME:TAG`, e.g. `127.0.0.1:5000/execsnoop:v1`. Registries on localhost/127.0.0.1/[::1]
are spoken to over plain HTTP (as container tools allow), others over HTTPS. Pulled blobs and the
manifest are checked against their digests before anything is stored.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from pybpf.gadget import MANIFEST_MEDIA_TYPE
from pybpf.gadget.auth import Credentials, RegistryAuth
from pybpf.gadget.store import GadgetError, Image, Store, digest_of, normalize, parse_ref

_LOCAL = ("localhost", "127.0.0.1", "[::1]")


def split_remote(ref: str) -> tuple[str, str, str, str]:
    """`REGISTRY/NAME:TAG` -> (base URL, registry host, repository, tag)."""
    name, tag = parse_ref(ref)
    host, sep, repo = name.partition("/")
    if not sep or not repo or not ("." in host or ":" in host or host == "localhost"):
        raise GadgetError(f"{ref!r} names no registry (expected REGISTRY/NAME[:TAG], e.g. 127.0.0.1:5000/{name}:{tag})")
    scheme = "http" if host.rsplit(":", 1)[0] in _LOCAL or host in _LOCAL else "https"
    return f"{scheme}://{host}", host, repo, tag


def _client(base: str, creds: Credentials | None) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=30.0, follow_redirects=True, auth=RegistryAuth(creds))


def _check(resp: httpx.Response, what: str, ok: tuple[int, ...]) -> None:
    if resp.status_code not in ok:
        detail = resp.text.strip().splitlines()[0][:200] if resp.text.strip() else ""
        raise GadgetError(f"registry refused {what}: HTTP {resp.status_code} {detail}".rstrip())


def _upload_blob(client: httpx.Client, repo: str, digest: str, data: bytes) -> None:
    if client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
        return
    resp = client.post(f"/v2/{repo}/blobs/uploads/")
    _check(resp, f"upload of {digest}", (202,))
    location = resp.headers.get("location")
    if not location:
        raise GadgetError("registry gave no upload location")
    # the location carries the upload's state in its query: add the digest, keep the rest
    url = httpx.URL(location).copy_merge_params({"digest": digest})
    resp = client.put(url, content=data,
                      headers={"Content-Type": "application/octet-stream"})
    _check(resp, f"upload of {digest}", (201, 204))


def push(local_ref: str, remote_ref: str | None = None, *, store: Store | None = None,
         creds: Credentials | None = None) -> str:
    """Push the stored image `local_ref` (to `remote_ref`, by default the same name); its manifest digest."""
    store = store or Store()
    remote_ref = remote_ref or local_ref
    base, _, repo, tag = split_remote(remote_ref)
    image = store.image(local_ref)
    manifest_bytes = store.get_blob(image.digest)
    try:
        with _client(base, creds) as client:
            for desc in [image.manifest["config"], *image.manifest["layers"]]:
                _upload_blob(client, repo, desc["digest"], store.get_blob(desc["digest"]))
            resp = client.put(f"/v2/{repo}/manifests/{tag}", content=manifest_bytes,
                              headers={"Content-Type": MANIFEST_MEDIA_TYPE})
            _check(resp, "the manifest", (201, 200))
    except httpx.HTTPError as exc:
        raise GadgetError(f"cannot push to {base}: {exc}") from None
    if store.resolve(remote_ref) is None:
        store.tag(remote_ref, image.digest, len(manifest_bytes))
    return image.digest


def _fetch_blob(client: httpx.Client, repo: str, desc: dict[str, Any]) -> bytes:
    digest = desc["digest"]
    resp = client.get(f"/v2/{repo}/blobs/{digest}")
    _check(resp, f"blob {digest}", (200,))
    actual = digest_of(resp.content)
    if actual != digest:
        raise GadgetError(f"blob {digest} from the registry fails verification: its content hashes to "
                          f"{actual}; refusing the image")
    return resp.content


def pull(remote_ref: str, *, store: Store | None = None, creds: Credentials | None = None) -> Image:
    """Fetch `REGISTRY/NAME:TAG`, verify every piece by digest, store it under that reference."""
    store = store or Store()
    base, _, repo, tag = split_remote(remote_ref)
    try:
        with _client(base, creds) as client:
            resp = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_MEDIA_TYPE})
            _check(resp, f"manifest {repo}:{tag}", (200,))
            manifest_bytes = resp.content
            claimed = resp.headers.get("docker-content-digest")
            if claimed and claimed != digest_of(manifest_bytes):
                raise GadgetError(f"manifest of {remote_ref} fails verification (registry says {claimed}, "
                                  f"content hashes to {digest_of(manifest_bytes)})")
            try:
                manifest = json.loads(manifest_bytes)
                descs = [manifest["config"], *manifest["layers"]]
            except (ValueError, KeyError, TypeError):
                raise GadgetError(f"{remote_ref}: the registry's manifest is not an OCI image manifest") from None
            blobs = [_fetch_blob(client, repo, d) for d in descs]
    except httpx.HTTPError as exc:
        raise GadgetError(f"cannot pull from {base}: {exc}") from None
    for data in blobs:
        store.put_blob(data)
    digest = store.put_blob(manifest_bytes)
    store.tag(remote_ref, digest, len(manifest_bytes))
    return store.image(normalize(remote_ref))
