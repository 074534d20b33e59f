"""`make bench`: the pybpf benchmark suite (native C vs JIT vs interpreter vs kernel), then the
interpreter's instructions per second and the ring buffer reader's events per second.

Usage: python benchmarks/run.py [--quick] [--json] [--only a,b] [--engines native,jit,...]
(with --json only the suite's JSON document is printed).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def _load(name: str) -> ModuleType | None:
    path = HERE / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"pybpf_benchmarks_{name}", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


#: what the suite's JSON document already holds is not measured twice
EXTRA_ARGS = {"trace_bench": ["--no-startup"]}


def main(argv: list[str] | None = None) -> int:
    from pybpf.bench import suite  # the suite ships in the package, so `pybpf bench` runs installed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    suite.add_arguments(parser)
    args = parser.parse_args(argv)
    status: int = suite.run_from_args(args)
    if args.json or args.only:
        return status
    for extra in ("interp_bench", "ringbuf_bench", "maps_bench", "trace_bench", "flows_bench", "guard_bench",
                  "profile_bench", "lb_bench", "webapp_bench", "verifier_bench"):
        module = _load(extra)
        if module is None or not hasattr(module, "main"):
            continue
        print(f"\n== {extra} ==", flush=True)
        try:
            module.main((["--quick"] if args.quick else []) + EXTRA_ARGS.get(extra, []))
        except SystemExit as exc:  # a sub-benchmark that cannot run here says why and exits
            if exc.code not in (0, None):
                print(f"{extra}: exited with {exc.code}")
                status = status or 1
        except Exception as exc:  # noqa: BLE001 - one broken sub-benchmark does not stop the others
            print(f"{extra}: FAILED: {type(exc).__name__}: {exc}", flush=True)
            status = status or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
