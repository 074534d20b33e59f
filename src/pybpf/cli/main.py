"""Entry point of the `pybpf` command: discovers verb modules and maps errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import pybpf.cli
from pybpf.errors import BpfError

# Exit codes: 0 success, 1 a check failed (verifier rejection, failing tests), 2 unusable input.
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, its width from $COLUMNS or the terminal: argparse asks shutil for it, and shutil
    loads the compression modules (bz2, lzma) that a start of `pybpf trace` does not need."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=max(_columns() - 2, 40))


def _columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the terminal of stdout, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            columns = 0
    return columns if columns > 0 else 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"pybpf: error: {message}\n")


def _verb_modules() -> list[str]:
    """The verb modules of pybpf.cli, by file name (pkgutil would import inspect and more to list them)."""
    names = set()
    for directory in pybpf.cli.__path__:
        for entry in os.listdir(directory):
            stem, dot, ext = entry.partition(".")
            if dot and ext in ("py", "pyc") and stem.isidentifier():
                names.add(stem)
    return sorted(n for n in names if n not in ("main", "plugin") and not n.startswith("_"))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every verb module under pybpf.cli registered (or only the module named
    `only`: a command line that starts with a verb imports just that verb, so it starts faster)."""
    parser = _Parser(prog="pybpf", description="The eBPF platform in Python.")
    parser.add_argument("--version", action="version", version=f"pybpf {pybpf.__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for name in _verb_modules() if only is None else [only]:
        try:
            module = importlib.import_module(f"pybpf.cli.{name}")
        except ModuleNotFoundError as exc:
            if only is not None and exc.name == f"pybpf.cli.{name}":
                continue  # not a verb: the caller falls back to every verb
            raise
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def _parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Only the first argument's verb when it is one (its module registers that verb), else every verb."""
    first = argv[0] if argv else ""
    if first.isidentifier() and first not in ("main", "plugin") and not first.startswith("_"):
        parser = build_parser(only=first)
        verbs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if verbs and first in verbs[0].choices:
            return parser
    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pybpf command; returns the exit status."""
    parser = _parser_for(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status = func(args)
    except BpfError as exc:
        print(f"pybpf {args.verb}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return _closed_pipe()
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"pybpf {args.verb}: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return _closed_pipe()
    return int(status or 0)


def _closed_pipe() -> int:
    """The reader of stdout went away (`pybpf ... | head`): stop quietly with status 0, as
    ripgrep does (the reader has what it wanted; no `Broken pipe` line, no error status).

    stdout is pointed at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
