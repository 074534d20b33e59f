"""`python -m pybpf.trace ...`: the trace verb alone (skips loading every other pybpf verb: faster start)."""

from __future__ import annotations

import argparse
import sys

from pybpf.errors import BpfError


def main(argv: list[str] | None = None) -> int:
    from pybpf.cli import trace

    parser = argparse.ArgumentParser(prog="pybpf trace")
    sub = parser.add_subparsers(dest="verb")
    trace.register(sub)
    args = parser.parse_args(["trace", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except (BpfError, OSError) as exc:
        print(f"pybpf trace: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
