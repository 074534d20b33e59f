"""`python -m pybpf.trace ...`: the trace verb alone (`pybpf trace` also loads no other verb)."""

from __future__ import annotations

import argparse
import sys

from pybpf.errors import BpfError


def main(argv: list[str] | None = None) -> int:
    from pybpf.trace.command import add_arguments, run

    parser = argparse.ArgumentParser(prog="pybpf trace")
    add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return int(run(args))
    except (BpfError, OSError) as exc:
        print(f"pybpf trace: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
