"""ELF relocatable objects and the immutable specs (CollectionSpec, ProgramSpec, MapSpec) they become."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The specs are cheap and used everywhere; the ELF/BTF loader is imported on first use (PEP 562),
# so that `import pybpf.object.spec` (pybpf.engine, every CLI verb) does not pay for it.
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

if TYPE_CHECKING:
    from pybpf.object.loader import load_bytes, load_file

_LAZY = {"load_bytes": "loader", "load_file": "loader"}

__all__ = ["CollectionSpec", "MapReference", "MapSpec", "ProgramSpec", "load_bytes", "load_file"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
