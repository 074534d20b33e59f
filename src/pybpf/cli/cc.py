"""`pybpf cc SRC.c -o OUT.o`: compile C to an eBPF object with zig (pip) or a system clang."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

# pybpf.toolchain.COMPILERS, spelled out so that registering the verb does not import the toolchain
# (tests/cli/test_cli_startup.py checks that the two agree).
COMPILERS = ("zig", "clang")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "cc",
        help="compile C to an eBPF ELF object (zig from pip by default, or clang)",
        description="Compile a C file to an eBPF object with pybpf's own headers "
        "(bpf_helpers.h, bpf_endian.h, bpf_packet.h, ...). Compiler diagnostics are shown as-is.",
    )
    p.add_argument("source", metavar="SRC.c", nargs="?", help="C source file")
    p.add_argument("-o", "--output", metavar="OUT.o",
                   help="object to write (default: SRC with the suffix .o, in the current directory)")
    p.add_argument("-I", dest="include_dirs", metavar="DIR", action="append", default=[],
                   help="add a header search directory (searched before pybpf's headers)")
    p.add_argument("-D", dest="defines", metavar="NAME[=VALUE]", action="append", default=[],
                   help="define a preprocessor macro")
    p.add_argument("--compiler", choices=COMPILERS, default="zig",
                   help="zig (the pip package ziglang, default) or a system clang")
    p.add_argument("--flag", dest="flags", metavar="FLAG", action="append", default=[],
                   help="pass an extra flag to the compiler (e.g. --flag=-mcpu=v4)")
    p.add_argument("--no-cache", action="store_true", help="always run the compiler")
    p.add_argument("-v", "--verbose", action="store_true", help="print the compiler command")
    p.add_argument("--include-dir", action="store_true",
                   help="print the directory of pybpf's headers (for your own build) and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pybpf.toolchain import CompileError, ToolchainError, compile_c, include_dir

    if args.include_dir:
        print(include_dir())
        return 0
    if args.source is None:
        print("pybpf cc: a C source file is required", file=sys.stderr)
        return 2
    source = Path(args.source)
    if not source.is_file():
        print(f"pybpf cc: {source}: no such file", file=sys.stderr)
        return 2
    output = Path(args.output) if args.output else Path(source.with_suffix(".o").name)
    flags = list(args.flags)
    if sys.stderr.isatty():
        flags.append("-fcolor-diagnostics")
    try:
        result = compile_c(source, output, compiler=args.compiler, flags=flags,
                                include_dirs=args.include_dirs, defines=args.defines,
                                use_cache=not args.no_cache)
    except CompileError as exc:
        if args.verbose and exc.command:
            print(" ".join(exc.command), file=sys.stderr)
        sys.stderr.write(exc.stderr if exc.stderr else f"{exc}\n")
        if exc.stderr and not exc.stderr.endswith("\n"):
            sys.stderr.write("\n")
        return 1
    except ToolchainError as exc:
        print(f"pybpf cc: {exc}", file=sys.stderr)
        return 2
    if args.verbose:
        print(" ".join(result.command) + ("  (cached)" if result.cached else ""), file=sys.stderr)
    if result.diagnostics:
        sys.stderr.write(result.diagnostics)
    return 0
