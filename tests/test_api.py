"""The top-level API: `import pybpf` is cheap, offers load/compile/verify/assemble/... with
docstrings, and the README's tour runs as written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testlib import ROOT

HEAVY = ("llvmlite", "pybpf.object", "pybpf.btf", "pybpf.isa", "pybpf.verifier", "pybpf.vm",
         "pybpf.kernel", "pybpf.maps", "pybpf.toolchain", "pybpf.trace", "pybpf.helpers", "pybpf.api",
         "pybpf.collection", "pybpf.engines", "rich", "dpkt")
API = ("load", "compile", "verify", "assemble", "disassemble", "Runtime", "CollectionSpec",
       "ProgramSpec", "MapSpec", "Collection", "Map", "Program", "RunResult", "BpfError",
       "AssemblyError", "ObjectError", "VerifierError", "LoadError", "KernelError", "RuntimeFault",
       "MapError")


def _fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True, cwd=ROOT)
    return done.stdout


def test_import_pybpf_imports_nothing_heavy() -> None:
    loaded = json.loads(_fresh("import json, sys, pybpf; print(json.dumps(sorted(sys.modules)))"))
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []


def test_every_name_resolves_with_a_docstring() -> None:
    import pybpf

    for name in API:
        value = getattr(pybpf, name)
        assert (value.__doc__ or "").strip(), name
        assert name in dir(pybpf)
    assert issubclass(pybpf.MapError, pybpf.BpfError)
    with pytest.raises(AttributeError):
        _ = pybpf.no_such_name


def test_load_a_c_file_on_each_user_space_engine() -> None:
    import pybpf
    from pybpf.hooks.packets import tcp_packet

    obj = pybpf.compile(ROOT / "examples" / "xdp_firewall.c")
    assert Path(obj).read_bytes()[:4] == b"\x7fELF"
    assert set(pybpf.verify(obj)) == {"xdp_firewall"}
    for engine in ("interp", "jit"):
        with pybpf.load(obj, engine=engine) as coll:
            coll.maps["blocked_ports"][22] = 0
            assert coll.programs["xdp_firewall"].run(tcp_packet(dport=22)).retval == 1
            assert coll.programs["xdp_firewall"].run(tcp_packet(dport=80)).retval == 2


def test_load_assembly_text_file_and_specs(tmp_path: Path) -> None:
    import pybpf

    src = tmp_path / "answer.s"
    src.write_text("r0 = 6\nr0 *= 7\nexit\n")
    with pybpf.load(src, engine="interp", verify=False) as coll:
        assert coll.programs["answer"].run(b"").retval == 42
    spec = pybpf.ProgramSpec(name="p", instructions=tuple(pybpf.assemble("mov %r0, 5\nexit")))
    with pybpf.load(spec, engine="interp", verify=False) as coll:
        assert coll.programs["p"].run(b"").retval == 5


def test_bad_input_raises_from_the_error_tree(tmp_path: Path) -> None:
    import pybpf

    bad = tmp_path / "bad.s"
    bad.write_text("frobnicate r0\n")
    with pytest.raises(pybpf.AssemblyError, match="bad.s: line 1"):
        pybpf.load(bad)
    with pytest.raises(pybpf.LoadError, match="unknown engine"):
        pybpf.load(pybpf.ProgramSpec(name="p", instructions=()), engine="gpu")


def _tour() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("```python\n", text.index("## A quick tour")) + len("```python\n")
    return text[start : text.index("```", start)]


@pytest.mark.kernel
def test_the_readme_tour_runs_as_written() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", _tour()], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["r0 = 0x1", "r0 += 0x29"]
    assert "xdp_firewall" in done.stdout and "accepted=True" in done.stdout
    assert lines[-3:] == ["interp 1", "jit 1", "kernel 1"]
