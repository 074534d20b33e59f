"""ELF relocatable objects and the immutable specs (CollectionSpec, ProgramSpec, MapSpec) they become."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf._lazy import lazy_exports

# The specs are cheap and used everywhere; the ELF/BTF loader is imported on first use (PEP 562),
# so that `import pybpf.object.spec` (pybpf.collection, every CLI verb) does not pay for it.
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

if TYPE_CHECKING:
    from pybpf.object.loader import load_bytes, load_file

_LAZY = {"load_bytes": "loader", "load_file": "loader"}

__all__ = ["CollectionSpec", "MapReference", "MapSpec", "ProgramSpec", "load_bytes", "load_file"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
