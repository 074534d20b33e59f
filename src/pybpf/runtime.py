"""Runtime: turn a CollectionSpec into a live Collection on the interpreter, the JIT or the kernel."""

from __future__ import annotations

import importlib
from typing import Any

from pybpf.engine import Collection
from pybpf.errors import LoadError
from pybpf.object.skeleton import loadable
from pybpf.object.spec import CollectionSpec, ProgramSpec

# engine name -> module providing `load_collection(spec, **options) -> Collection`
ENGINES: dict[str, str] = {
    "interp": "pybpf.vm.interp_engine",
    "jit": "pybpf.vm.jit_engine",
    "kernel": "pybpf.kernel.engine",
}


class Runtime:
    """Loads specs on one engine; the same API and results whichever engine is chosen."""

    def __init__(self, engine: str = "interp", *, verify: bool = True, **options: Any) -> None:
        if engine not in ENGINES:
            raise LoadError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
        self.engine = engine
        self.verify = verify
        self.options = options

    def load(self, spec: CollectionSpec | ProgramSpec) -> Collection:
        """Verify (unless disabled) and load every program and map of `spec`."""
        if isinstance(spec, ProgramSpec):
            spec = CollectionSpec.single(spec)
        spec = loadable(spec)  # programs whose autoload is off stay out
        if self.verify:
            from pybpf import verifier

            verifier.verify_collection(spec)  # type: ignore[attr-defined]
        module = importlib.import_module(ENGINES[self.engine])
        collection: Collection = module.load_collection(spec, **self.options)
        return collection
