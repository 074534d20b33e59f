"""ELF relocatable objects and the immutable specs (CollectionSpec, ProgramSpec, MapSpec) they become."""

from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

__all__ = ["CollectionSpec", "MapReference", "MapSpec", "ProgramSpec"]
