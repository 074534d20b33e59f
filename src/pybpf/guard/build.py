"""Compile the generated guard C with pybpf.toolchain (objects cached by content) and load it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pybpf.guard.codegen import Generated

BPF_DIR = Path(__file__).resolve().parent / "bpf"


def compile_generated(gen: Generated) -> Path:
    """The object for `gen.source`: written under pybpf's cache, compiled once per distinct source."""
    from pybpf.toolchain import compile_c
    from pybpf.toolchain.cache import cache_root

    digest = hashlib.sha256(gen.source.encode() + (BPF_DIR / "guard.h").read_bytes()).hexdigest()[:20]
    out_dir = cache_root() / "guard"
    out_dir.mkdir(parents=True, exist_ok=True)
    obj = out_dir / f"guard-{digest}.o"
    if obj.is_file():
        return obj
    src = out_dir / f"guard-{digest}.c"
    src.write_text(gen.source)
    return compile_c(src, obj, include_dirs=[BPF_DIR])


def load_generated(gen: Generated) -> Any:
    """A KernelCollection of the compiled guard object, tries filled (nothing pinned)."""
    from pybpf.kernel import load_collection
    from pybpf.object import load_file

    spec = load_file(compile_generated(gen))
    coll = load_collection(spec, pin_path=None)
    try:
        for name, entries in gen.tries.items():
            m = coll.maps[name]
            for key, value in entries:
                m[key] = value.to_bytes(4, "little")
        ids = coll.maps["binary_ids"]
        for path, bid in gen.binary_ids.items():
            ids[path.encode()[:255].ljust(256, b"\0")] = bid.to_bytes(4, "little")
    except BaseException:
        coll.close()
        raise
    return coll
