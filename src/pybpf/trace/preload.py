"""Modules read ahead: their compiled code is read from disk before the probes are attached and executed after,
so that the tracer's own imports open no file while the traced command runs (a script counting `openat` calls
does not count pybpf's).

`pybpf trace` starts the command as soon as a cached script is attached and imports its runtime meanwhile; the
modules that import needs were recorded on an earlier run of the same script (`cache`). Modules that are not
plain source or bytecode files (C extensions) are imported at once instead, which is cheap. A module missing
from the list is simply imported the usual way later.
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Iterable
from types import CodeType, ModuleType
from typing import Any


class _CodeLoader:
    """Executes a code object read ahead (importlib's Loader protocol: create_module, exec_module)."""

    def __init__(self, code: CodeType) -> None:
        self.code = code

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code, module.__dict__)  # noqa: S102 - the module's own compiled code, as importlib runs it


class ReadAhead:
    """A sys.meta_path finder serving the modules read ahead, each once; `close()` removes it."""

    def __init__(self) -> None:
        self.specs: dict[str, importlib.machinery.ModuleSpec] = {}

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        return self.specs.pop(name, None)

    def close(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        self.specs.clear()


def read_ahead(names: Iterable[str]) -> ReadAhead:
    """Read the code of every module in `names` not imported yet and install the finder that serves it."""
    finder = ReadAhead()
    for name in sorted(names, key=lambda n: n.count(".")):  # a package before its modules
        if name in sys.modules or name in finder.specs:
            continue
        parent = name.rpartition(".")[0]
        if parent:
            if parent in sys.modules:
                path = getattr(sys.modules[parent], "__path__", None)
            else:
                parent_spec = finder.specs.get(parent)
                path = parent_spec.submodule_search_locations if parent_spec is not None else None
            if path is None:
                continue
        else:
            path = None
        try:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.origin is None:
                continue
            if not isinstance(spec.loader, importlib.machinery.SourceFileLoader | importlib.machinery.SourcelessFileLoader):
                __import__(name)  # a C extension: loading it now is cheap
                continue
            code = spec.loader.get_code(name)
        except (ImportError, OSError, SyntaxError, ValueError):
            continue
        if code is None:
            continue
        ahead = importlib.machinery.ModuleSpec(name, _CodeLoader(code), origin=spec.origin,  # type: ignore[arg-type]
                                               is_package=spec.submodule_search_locations is not None)
        if spec.submodule_search_locations is not None:
            ahead.submodule_search_locations = list(spec.submodule_search_locations)
        ahead.cached = spec.cached
        ahead.has_location = True
        finder.specs[name] = ahead
    sys.meta_path.insert(0, finder)
    return finder
