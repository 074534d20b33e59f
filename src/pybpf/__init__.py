"""pybpf: the eBPF platform in Python — assemble, load, verify and run eBPF programs."""

from pybpf.errors import (
    AssemblyError,
    BpfError,
    KernelError,
    LoadError,
    ObjectError,
    RuntimeFault,
    VerifierError,
)

__version__ = "0.1.0"

__all__ = [
    "AssemblyError",
    "BpfError",
    "KernelError",
    "LoadError",
    "ObjectError",
    "RuntimeFault",
    "VerifierError",
    "__version__",
]
