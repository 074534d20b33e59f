"""pybpf: the eBPF platform in Python — compile, verify, load and run eBPF programs.

`import pybpf` is enough for the common work; everything is imported on first use, so the
import itself stays cheap:

    import pybpf

    coll = pybpf.load("examples/xdp_firewall.c", engine="jit")   # or "interp", "kernel"
    coll.maps["blocked_ports"][22] = 0
    print(coll.programs["xdp_firewall"].run(frame).retval)

Functions: `load`, `compile`, `verify`, `assemble`, `disassemble`. Specs (immutable data from an
object or assembly): `CollectionSpec`, `ProgramSpec`, `MapSpec`, `load_file`. Live objects, the
same on every engine: `Runtime`, `Collection`, `Program`, `Map`, `RunResult`. Errors: `BpfError`
and its subclasses (`AssemblyError`, `ObjectError`, `VerifierError`, `LoadError`, `KernelError`,
`RuntimeFault`, `MapError`).
"""

from pybpf._lazy import lazy_exports
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

# name -> submodule defining it, imported on first use
_LAZY = {
    "load": "api", "compile": "api", "verify": "api", "assemble": "api", "read_spec": "api",
    "disassemble": "isa", "Instruction": "isa",
    "Runtime": "runtime",
    "Collection": "engine", "Program": "engine", "Map": "engine", "RunResult": "engine",
    "MapError": "engine",
    "CollectionSpec": "object.spec", "ProgramSpec": "object.spec", "MapSpec": "object.spec",
    "load_file": "object",
    "CompileResult": "toolchain", "CompileError": "toolchain",
    "VerificationResult": "verifier",
}  # fmt: skip

__all__ = [
    "AssemblyError",
    "BpfError",
    "KernelError",
    "LoadError",
    "ObjectError",
    "RuntimeFault",
    "VerifierError",
    "__version__",
    *_LAZY,
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
