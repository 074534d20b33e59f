"""Examples' names and paths, and the fixtures of the example tests (imported by each test module).

Not a conftest.py: a second module named `conftest` would shadow tests/conftest.py for test
modules that import it by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pybpf.collection import Collection
from pybpf.engines import Runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_NAMES = ("xdp_firewall", "port_counter", "xdp_bounce", "tc_classifier", "ringbuf_events",
                 "payload_hash", "syscall_counter")



@pytest.fixture(scope="session")
def example_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example compiled with zig, once per test session."""
    from pybpf.toolchain import compile_c, zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed: the examples cannot be compiled")
    out = tmp_path_factory.mktemp("examples")
    return {name: compile_c(EXAMPLES / f"{name}.c", out / f"{name}.o") for name in EXAMPLE_NAMES}


@pytest.fixture
def load(engine: str, example_objects: dict[str, Path]) -> Iterator[Callable[..., Collection]]:
    """load(name, spec_transform=None) -> the example's Collection on the current engine."""
    from pybpf.object import load_file

    opened: list[Collection] = []

    def _load(name: str, transform: Callable | None = None) -> Collection:
        spec = load_file(example_objects[name])
        if transform is not None:
            spec = transform(spec)
        coll = Runtime(engine, verify=False).load(spec)
        opened.append(coll)
        return coll

    yield _load
    for coll in opened:
        coll.close()
