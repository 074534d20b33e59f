"""Build the verifier's compiled modules with mypyc into native_dir(), checked before they replace a build."""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

from pybpf.errors import BpfError
from pybpf.verifier.native import (
    _PACKAGE_ROOT,
    HOT,
    MANIFEST,
    is_fresh,
    native_dir,
    read_manifest,
    source_crcs,
)

#: lists the pybpf source files the hot modules load (their compiled code may inline what those define)
_DEPENDENCIES = """
import json, os, sys
import pybpf.verifier
{imports}
root = os.path.dirname(os.path.abspath(pybpf.__file__))
files = sorted(os.path.relpath(m.__file__, root) for name, m in list(sys.modules.items())
               if name.split(".")[0] == "pybpf" and getattr(m, "__file__", None))
print(json.dumps(files))
"""

#: run with a new build's directory: it must load, and verify a loop to the same result as Python
_SMOKE = """
import sys
from pybpf.abi import ProgramType
from pybpf.isa import assemble
from pybpf.object.spec import ProgramSpec
from pybpf.verifier import native, verify
text = "r0 = 0\\nr1 = 0\\nl:\\nr0 += r1\\nr1 += 1\\nif r1 < 100 goto l\\nexit"
r = verify(ProgramSpec("loop", tuple(assemble(text, syntax="llvm")), type=ProgramType.SOCKET_FILTER))
if not native.active():
    sys.exit("the compiled modules did not load")
print(r.processed_insns)
"""


class NativeBuildError(BpfError):
    """The compiled verifier could not be built; the verifier stays pure Python."""


def _run(argv: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise NativeBuildError(f"{' '.join(argv[:3])} ... failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def _pure_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYBPF_NATIVE": "0", **extra}
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(_PACKAGE_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def dependencies() -> list[str]:
    """The pybpf source files (relative to the package) that importing the hot modules loads."""
    imports = "\n".join(f"import pybpf.verifier.{m}" for m in HOT)
    return list(json.loads(_run([sys.executable, "-c", _DEPENDENCIES.format(imports=imports)], env=_pure_env())))


def build(force: bool = False) -> str:
    """Compile HOT into native_dir() unless a fresh build is there; what was done, in one line."""
    target = native_dir()
    manifest = read_manifest(target)
    if manifest is not None and is_fresh(manifest) and not force:
        return f"the compiled verifier in {target} is up to date"
    if importlib.util.find_spec("mypyc") is None:
        raise NativeBuildError("mypyc is not installed (pip install mypy); the verifier stays pure Python")
    files = dependencies()
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    work = tempfile.mkdtemp(prefix="pybpf-native-")
    staging = f"{target}.new-{os.getpid()}"
    try:
        shutil.copytree(_PACKAGE_ROOT, os.path.join(work, "pybpf"), symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        crcs = source_crcs(files, os.path.join(work, "pybpf"))  # what is compiled, not what may change meanwhile
        _run([sys.executable, "-m", "mypyc", *(f"pybpf/verifier/{m}.py" for m in HOT)], cwd=work,
             env=dict(os.environ, PYTHONPATH=""))
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(os.path.join(staging, "pkg"))
        os.makedirs(os.path.join(staging, "lib"))
        for m in HOT:
            (so,) = glob.glob(os.path.join(work, "pybpf", "verifier", f"{m}.*.so"))
            shutil.copy2(so, os.path.join(staging, "pkg"))
        for so in glob.glob(os.path.join(work, "*__mypyc.*.so")):
            shutil.copy2(so, os.path.join(staging, "lib"))
        with open(os.path.join(staging, MANIFEST), "w") as f:
            json.dump({"python": sys.implementation.cache_tag, "hot": list(HOT), "sources": crcs}, f, indent=1)
        env = _pure_env(PYBPF_NATIVE="1", PYBPF_NATIVE_DIR=staging)
        _run([sys.executable, "-c", _SMOKE], env=env)
        old = f"{target}.old-{os.getpid()}"
        try:
            if os.path.exists(target):
                os.rename(target, old)
            os.rename(staging, target)
        except OSError as exc:  # another build of the same sources may have just landed
            landed = read_manifest(target)
            if landed is None or not is_fresh(landed):
                raise NativeBuildError(f"cannot put the build in {target}: {exc}") from None
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    return f"compiled {len(HOT)} verifier modules with mypyc into {target}"


def main(argv: list[str] | None = None) -> int:
    """`python -m pybpf.verifier.native_build [--force] [--status]`: build the compiled verifier, or say which runs."""
    parser = argparse.ArgumentParser(prog="python -m pybpf.verifier.native_build", description=__doc__)
    parser.add_argument("--force", action="store_true", help="build even when the build is up to date")
    parser.add_argument("--status", action="store_true", help="only say which verifier runs here")
    args = parser.parse_args(argv)
    if args.status:
        from pybpf.verifier.native import status

        print(f"verifier: {status()}")
        return 0
    try:
        print(build(force=args.force))
    except NativeBuildError as exc:
        print(f"pybpf: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
