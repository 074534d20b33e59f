"""ELF relocatable objects and the immutable specs (CollectionSpec, ProgramSpec, MapSpec) they become."""

from pybpf.object.loader import load_bytes, load_file
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

__all__ = ["CollectionSpec", "MapReference", "MapSpec", "ProgramSpec", "load_bytes", "load_file"]
