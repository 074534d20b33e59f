"""Send a profile to an existing Pyroscope or Parca server over HTTP (pprof ingest); nothing is stored here."""

from __future__ import annotations

import time

from pybpf.errors import LoadError
from pybpf.profile.model import Profile
from pybpf.profile.pprof import dumps


def push(profile: Profile, server: str, app: str = "pybpf.profile", *, timeout: float = 10.0) -> str:
    """POST the gzipped pprof to `server`/ingest, Pyroscope's HTTP ingest API (multipart field `profile`),
    which Grafana Alloy's pyroscope.receive_http also serves. Returns the URL used; LoadError on refusal."""
    import httpx

    base = server if "://" in server else f"http://{server}"
    end = int(time.time())
    start = end - max(int(profile.duration), 1)
    url = f"{base.rstrip('/')}/ingest"
    params = {"name": f"{app}{{}}", "from": str(start), "until": str(end), "format": "pprof",
              "sampleRate": str(profile.frequency), "spyName": "pybpf"}
    try:
        response = httpx.post(url, params=params, timeout=timeout,
                              files={"profile": ("profile.pb.gz", dumps(profile), "application/octet-stream")})
    except httpx.HTTPError as exc:
        raise LoadError(f"cannot push the profile to {url}: {exc}") from None
    if response.status_code >= 300:
        raise LoadError(f"{url} refused the profile: HTTP {response.status_code} {response.text[:200]}")
    return url
