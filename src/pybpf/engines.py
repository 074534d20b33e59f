"""Runtime: turn a CollectionSpec into a live Collection on the interpreter, the JIT or the kernel."""

from __future__ import annotations

import importlib
from typing import Any

from pybpf.collection import Collection
from pybpf.errors import LoadError
from pybpf.object.skeleton import loadable
from pybpf.object.spec import CollectionSpec, ProgramSpec

# engine name -> module providing `load_collection(spec, **options) -> Collection`
ENGINES: dict[str, str] = {
    "interp": "pybpf.vm.interp_engine",
    "jit": "pybpf.vm.jit_engine",
    "kernel": "pybpf.kernel.kernel_engine",
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

            use_kernel_facts()
            verifier.verify_collection(spec)
        module = importlib.import_module(ENGINES[self.engine])
        collection: Collection = module.load_collection(spec, **self.options)
        return collection


_kernel_facts_reason: list[str | None] = []


def use_kernel_facts(refresh: bool = False) -> str | None:
    """Make the verifier judge by the running kernel's facts: helper availability, context rules, kfunc calls.

    Probed once per kernel build with bpf() and cached (pybpf.kernel.kfacts); where bpf() is not
    permitted the fallback tables stay in use and the reason is returned. Cheap after the first call.
    """
    if _kernel_facts_reason and not refresh:
        return _kernel_facts_reason[0]
    try:
        from pybpf.kernel import kfacts
    except (ImportError, OSError) as exc:  # not Linux: no bpf() to ask
        reason: str | None = f"pybpf.kernel is unavailable here: {exc}"
    else:
        reason = kfacts.use_live_facts(refresh)
        if reason is None:
            from pybpf.verifier import ctx_probed

            decoded = ctx_probed.decode(kfacts.ctx_facts(refresh))
            if decoded is not None:
                ctx_probed.use(decoded[0], decoded[1], "probed on the running kernel")
            from pybpf.verifier import kfuncs

            calls = kfacts.kfunc_facts(sorted(kfuncs.CONTRACTS), refresh)
            if calls is not None:
                kfuncs.use(calls)
    _kernel_facts_reason[:] = [reason]
    return reason
