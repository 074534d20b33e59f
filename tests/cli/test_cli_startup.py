"""Start-up cost of the `pybpf` command: building the parser must not import the heavy layers."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

# Modules that only the verb being run may import (each costs milliseconds to tens of milliseconds).
HEAVY = (
    "llvmlite",
    "pybpf.trace.codegen",
    "pybpf.trace.compiler",
    "pybpf.trace.parser",
    "pybpf.trace.runtime",
    "pybpf.object.loader",
    "pybpf.object.elf",
    "pybpf.btf.btf",
    "pybpf.btf.types",
    "pybpf.kernel.kernel_engine",
    "pybpf.kernel.programs",
    "pybpf.isa.assembler",
    "pybpf.isa.disasm",
    "pybpf.toolchain",
    "pybpf.conformance",
    "pybpf.vm.interp_engine",
    "pybpf.vm.jit_engine",
    "pybpf.verifier",
    "pybpf.maps",
    "pybpf.helpers",
)

VERBS = ("asm", "attach", "cc", "conformance", "disasm", "feature", "inspect", "map", "prog", "run", "trace")


def _loaded_after(code: str) -> set[str]:
    """The names in sys.modules after running `code` in a fresh interpreter."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_build_parser_imports_no_heavy_layer() -> None:
    loaded = _loaded_after("import pybpf.cli.main\npybpf.cli.main.build_parser()")
    assert "pybpf.cli.trace" in loaded  # the verbs were really registered
    assert _heavy(loaded) == []


@pytest.mark.parametrize("module", ["pybpf.collection", "pybpf.object", "pybpf.object.spec", "pybpf.isa", "pybpf.btf"])
def test_package_import_is_lazy(module: str) -> None:
    assert _heavy(_loaded_after(f"import {module}")) == []


def test_help_lists_every_verb() -> None:
    done = subprocess.run([sys.executable, "-m", "pybpf", "--help"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    for verb in VERBS:
        assert verb in done.stdout


def test_verb_help_works_after_lazy_registration() -> None:
    from pybpf.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["asm", "x.s", "--syntax", "llvm"])
    assert args.syntax == "llvm" and callable(args.func)
    args = parser.parse_args(["disasm", "x.bin", "--syntax", "kernel"])
    assert args.syntax == "kernel"
    args = parser.parse_args(["cc", "x.c", "--compiler", "clang"])
    assert args.compiler == "clang"
    with pytest.raises(SystemExit):
        parser.parse_args(["cc", "x.c", "--compiler", "gcc"])


def test_spelled_out_choices_match_the_layers() -> None:
    from pybpf.cli import asm, cc, disasm
    from pybpf.isa.assembler import SYNTAXES
    from pybpf.isa.disasm import DISASM_SYNTAXES
    from pybpf.toolchain import COMPILERS

    assert asm.SYNTAXES == SYNTAXES
    assert disasm.DISASM_SYNTAXES == DISASM_SYNTAXES
    assert cc.COMPILERS == COMPILERS


@pytest.mark.parametrize("package", ["pybpf.object", "pybpf.isa", "pybpf.btf"])
def test_lazy_package_exports_everything(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None
        owner = getattr(value, "__module__", None)
        if owner is not None and owner.startswith(package + "."):  # a re-export of its own submodule's name
            assert getattr(importlib.import_module(owner), name) is value
        assert name in dir(module)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_from_imports_still_work() -> None:
    from pybpf.btf import Btf, load_vmlinux
    from pybpf.isa import assemble, disassemble, encode
    from pybpf.object import CollectionSpec, load_bytes, load_file

    assert callable(load_file) and callable(load_bytes) and CollectionSpec.__name__ == "CollectionSpec"
    assert Btf.__name__ == "Btf" and callable(load_vmlinux)
    insns = assemble("r0 = 7\nexit", syntax="llvm")
    assert encode(insns)[:2] == b"\xb7\x00"
    assert "r0 = 0x7" in disassemble(insns)


def test_maps_import_only_what_is_created() -> None:
    code = (
        "from pybpf.abi import MapType\nfrom pybpf.object.spec import MapSpec\nfrom pybpf.maps import create_map\n"
        "m = create_map(MapSpec('a', MapType.ARRAY, key_size=4, value_size=8, max_entries=2))\n"
        "m[1] = bytes(range(8))\nassert m[1] == bytes(range(8))"
    )
    loaded = _loaded_after(code)
    assert "pybpf.maps.array" in loaded
    assert not {"pybpf.maps.lpm_trie", "pybpf.maps.typed", "pybpf.maps.ringbuf", "pybpf.maps.hash"} & loaded


def test_maps_package_exports_every_map_family() -> None:
    import pybpf.maps as maps
    from pybpf.abi import MapType
    from pybpf.maps.base import NativeMap
    from pybpf.maps.lpm_trie import LpmTrieMap

    for name in maps.__all__:
        assert getattr(maps, name) is not None
    assert maps.MAP_CLASSES[MapType.LPM_TRIE] is LpmTrieMap is maps.LpmTrieMap
    assert set(maps.MAP_CLASSES) == maps.SUPPORTED_MAP_TYPES
    assert all(issubclass(cls, NativeMap) for cls in maps.MAP_CLASSES.values())
    with pytest.raises(AttributeError):
        maps.no_such_map  # noqa: B018


def test_kernel_package_names() -> None:
    import pybpf.kernel as kernel

    assert kernel.__all__ == sorted(kernel._EXPORTS)
    assert _heavy(_loaded_after("import pybpf.kernel\nfrom pybpf.kernel import bpf_permission_error")) == []
