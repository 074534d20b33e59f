"""The balancer's XDP object: compile bpf/lb.c (cached), size its maps, load it on an engine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pybpf.engine import Collection
from pybpf.lb.config import LbConfig
from pybpf.object.spec import CollectionSpec

SOURCE = Path(__file__).with_name("bpf") / "lb.c"
PROGRAM = "xdp_lb"
PIN_BY_NAME = 1


def object_path() -> Path:
    """The compiled object (pybpf's compile cache keeps it between runs)."""
    from pybpf.toolchain import compile_c

    return compile_c(SOURCE)


def collection_spec(config: LbConfig, *, pinned: bool = False) -> CollectionSpec:
    """The object's spec with the Maglev table and connection table sized for `config`."""
    from pybpf.object import load_file

    spec = load_file(object_path())
    sizes = {"ring": config.ring_size * config.max_vips, "conns": config.max_connections}
    maps = {}
    for name, mspec in spec.maps.items():
        if name in sizes:
            mspec = dataclasses.replace(mspec, max_entries=sizes[name])
        if pinned and not name.startswith("."):
            mspec = dataclasses.replace(mspec, pinning=PIN_BY_NAME)
        maps[name] = mspec
    return CollectionSpec(programs=spec.programs, maps=maps, license=spec.license, btf=spec.btf)


def load(config: LbConfig, engine: str = "jit", **options: object) -> Collection:
    """The balancer loaded on `engine` (maps empty: apply a configuration with control.Balancer)."""
    from pybpf.runtime import Runtime

    spec = collection_spec(config)
    if engine == "kernel":
        options.setdefault("pin_path", None)
    # The kernel verifies on load; the user-space engines check with pybpf's verifier.
    return Runtime(engine, verify=engine != "kernel", **options).load(spec)
