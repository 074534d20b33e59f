"""The `pybpf trace` command: its arguments and what it runs (`pybpf trace` and `python -m pybpf.trace`).

`pybpf trace FILE.bt | -e PROGRAM [-c CMD] [-p PID] [-o FILE] [-f json|text] [--dry-run]`, `pybpf trace -l [PATTERN]`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any, TextIO

from pybpf.errors import BpfError


def permission_denied() -> int | None:
    """None when bpf() is usable; else print one line and return exit status 2."""
    from pybpf.kernel.probe import bpf_permission_error

    reason = bpf_permission_error()
    if reason is None:
        return None
    print(f"pybpf trace: {reason}", file=sys.stderr)
    return 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `pybpf trace` (bpftrace's where they exist)."""
    p.add_argument("file", nargs="?", help="script file (.bt); '-' reads standard input")
    p.add_argument("params", nargs="*", metavar="ARG", help="positional parameters: $1, $2... ($# is their count)")
    p.add_argument("-e", dest="program", metavar="PROGRAM", help="the script text")
    p.add_argument("-c", dest="command", metavar="CMD", help="run CMD traced; stop when it exits (cpid is its pid)")
    p.add_argument("-p", dest="pid", type=int, metavar="PID", help="uprobes fire for this process only")
    p.add_argument("-l", dest="list", nargs="?", const="*", metavar="PATTERN",
                   help="list probes (tracepoints, rawtracepoints, fentry functions) matching PATTERN")
    p.add_argument("-v", dest="verbose", action="store_true",
                   help="with -l: list each tracepoint's arguments (-lv PATTERN, like bpftrace)")
    p.add_argument("-o", dest="output", metavar="FILE", help="write the output to FILE")
    p.add_argument("--json", "-f", dest="json", nargs="?", const="json", metavar="json",
                   help="JSON lines like bpftrace -f json")
    p.add_argument("--unsafe", action="store_true", help="allow system() (runs shell commands)")
    p.add_argument("-d", "--dump", dest="dump", action="store_true", help="print the generated eBPF and exit")
    p.add_argument("--dry-run", dest="dry_run", action="store_true",
                   help="compile and check (load into the kernel's verifier when permitted) without attaching; "
                        "exit 0 when the script is valid, 1 otherwise")


def list_probes(pattern: str, out: TextIO, verbose: bool = False) -> int:
    """bpftrace -l: tracepoint:CAT:NAME lines (also rawtracepoint and fentry when the pattern asks); with
    `verbose` (-lv) each tracepoint's arguments follow, one indented C declaration a line."""
    import fnmatch

    from pybpf.kernel.tracefs import list_tracepoints

    if ":" not in pattern and "*" not in pattern and "?" not in pattern:
        pattern = f"*{pattern}*"
    for name in list_tracepoints("*"):
        full = "tracepoint:" + name.replace("/", ":")
        if fnmatch.fnmatchcase(full, pattern) or fnmatch.fnmatchcase(name.replace("/", ":"), pattern):
            out.write(full + "\n")
            if verbose:
                from pybpf.kernel.tracefs import tracepoint_format

                for f in tracepoint_format(*name.split("/", 1)):
                    if not f.declaration.split()[-1].startswith("common_"):
                        out.write(f"    {f.declaration}\n")
    from pybpf.trace.probes import HARDWARE_EVENTS, SOFTWARE_EVENTS

    for kind, table in (("software", SOFTWARE_EVENTS), ("hardware", HARDWARE_EVENTS)):
        for event in sorted(table):
            if fnmatch.fnmatchcase(f"{kind}:{event}:", pattern):
                out.write(f"{kind}:{event}:\n")
    if pattern.startswith(("uprobe:", "uretprobe:")) and pattern.count(":") == 2:
        from pybpf.kernel.uprobe import STT_FUNC, STT_GNU_IFUNC, defined_symbols, open_elf
        from pybpf.trace.probes import _binary_path

        kind, binary, func = pattern.split(":")
        try:
            from pybpf.kernel.uprobe import resolve_binary

            path = _binary_path(binary) or resolve_binary(binary)
            names = sorted({sym.name for sym in defined_symbols(open_elf(path)) if sym.type in (STT_FUNC, STT_GNU_IFUNC)})
        except BpfError as exc:
            print(f"pybpf trace: {exc}", file=sys.stderr)
            return 2
        for n in names:
            if fnmatch.fnmatchcase(n, func):
                out.write(f"{kind}:{path}:{n}\n")
    if pattern.startswith("usdt:") and pattern.count(":") >= 2:
        from pybpf.kernel.uprobe import resolve_binary
        from pybpf.trace.probes import _binary_path
        from pybpf.trace.usdt import read_notes

        _, binary, rest = pattern.split(":", 2)
        try:
            path = _binary_path(binary) or resolve_binary(binary)
            notes = read_notes(path)
        except BpfError as exc:
            print(f"pybpf trace: {exc}", file=sys.stderr)
            return 2
        for full in sorted({f"{n.provider}:{n.name}" for n in notes}):
            if fnmatch.fnmatchcase(full, rest) or fnmatch.fnmatchcase(full.split(":")[1], rest):
                out.write(f"usdt:{path}:{full}\n")
    if pattern.startswith(("fentry:", "kfunc:", "fexit:", "kretfunc:")):
        from pybpf.kernel.vmlinux import KIND_FUNC, vmlinux_index

        kind, _, func = pattern.partition(":")
        func = func.removeprefix("vmlinux:")
        for k, n in sorted(vmlinux_index()):
            if k == KIND_FUNC and fnmatch.fnmatchcase(n, func):
                out.write(f"{kind}:vmlinux:{n}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BrokenPipeError:  # `pybpf trace ... | head`: stop quietly like other command-line tools
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _which(name: str) -> str | None:
    """shutil.which without importing shutil (and the compression modules it loads) on the start-up path."""
    import os

    dirs = [""] if os.sep in name else os.environ.get("PATH", os.defpath).split(os.pathsep)
    for d in dirs:
        path = os.path.join(d, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _process_exists(pid: int) -> bool:
    import os

    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run(args: argparse.Namespace) -> int:
    out: TextIO = sys.stdout
    if args.output:
        out = open(args.output, "w")  # noqa: SIM115 - closed below
    try:
        if args.pid is not None and not _process_exists(args.pid):
            print(f"pybpf trace: -p {args.pid}: No such process", file=sys.stderr)
            return 1
        if args.list == "v":  # -lv PATTERN: argparse read the v as -l's pattern
            args.list, args.verbose = args.file or "*", True
        if args.list is not None:
            denied = permission_denied()
            return denied if denied is not None else list_probes(args.list, out, args.verbose)
        if args.json not in (None, "json", "text"):
            print(f"pybpf trace: unknown output format {args.json!r} (json or text)", file=sys.stderr)
            return 2
        params = list(args.params)
        if args.program is not None:
            source, filename = args.program, "stdin"
            if args.file is not None:
                params.insert(0, args.file)  # with -e every positional argument is a parameter
        elif args.file:
            filename = args.file
            try:
                source = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()
            except OSError as exc:
                print(f"pybpf trace: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
                return 2
            except UnicodeDecodeError:
                print(f"pybpf trace: {args.file} is not a bpftrace script (not UTF-8 text: a binary file?)",
                      file=sys.stderr)
                return 2
        else:
            print("pybpf trace: give a script FILE, -e PROGRAM or -l [PATTERN]", file=sys.stderr)
            return 2
        if not args.dry_run and not args.dump:
            denied = permission_denied()
            if denied is not None:
                return denied
            return _execute(args, source, filename, out, params)
        from pybpf.trace.errors import TraceError
        from pybpf.trace.parser import parse

        try:
            script = parse(source)
        except TraceError as exc:
            print(exc.render(source, filename), file=sys.stderr)
            return 1
        if args.dry_run:
            return _dry_run(args, script, source, filename, out, params)
        return _dump(args, script, source, filename, out, params)
    finally:
        if out is not sys.stdout:
            out.close()


def _dry_run(args: argparse.Namespace, script: Any, source: str, filename: str, out: TextIO,
             params: list[str]) -> int:
    """Compile for this kernel (probes resolved, missing ones reported as warnings) and, as root, load every
    program so that the kernel's verifier checks it; nothing is attached."""
    import os

    from pybpf.trace.compiler import compile_script
    from pybpf.trace.errors import TraceError

    try:
        compiled = compile_script(script, cpid=1 if args.command else 0, params=params, unsafe=args.unsafe,
                                  dry_run=True)
    except TraceError as exc:
        print(exc.render(source, filename), file=sys.stderr)
        return 1
    for warning in compiled.warnings:
        print(warning.render(source, filename), file=sys.stderr)
    if os.geteuid() != 0:
        return 0
    from pybpf.trace.check import check_in_kernel

    failed = 0
    for result in check_in_kernel(compiled):
        if not result.ok:
            failed += 1
            print(f"{filename}: ERROR: {result.probe}: the kernel's verifier refused the program: {result.message}",
                  file=sys.stderr)
        elif result.message:
            print(f"{filename}: WARNING: {result.probe}: {result.message}", file=sys.stderr)
    return 1 if failed else 0


def _compile(args: argparse.Namespace, source: str, filename: str, params: list[str], cpid: int) -> Any:
    """The script compiled; None (after printing the error) when it is wrong."""
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.errors import TraceError
    from pybpf.trace.parser import parse

    try:
        return compile_script(parse(source), cpid=cpid, params=params, unsafe=args.unsafe)
    except TraceError as exc:
        print(exc.render(source, filename), file=sys.stderr)
        return None


def _execute(args: argparse.Namespace, source: str, filename: str, out: TextIO, params: list[str]) -> int:
    """Run the script, from the user's cache when this exact compilation ran before, else compiled (and cached).

    A cached script with a launch image whose run was recorded starts fastest: the runtime's modules are read
    ahead, the image is loaded and attached, the command starts, and only then is the runtime imported (from the
    code read ahead: the tracer opens no file while the command runs). Otherwise the runtime is imported first
    and loads and attaches the compilation itself; the first such run of a cached script records the modules
    it imports."""
    from pybpf.kernel.held_command import HeldCommand
    from pybpf.trace import cache, launch

    argv = shlex.split(args.command) if args.command else []
    if args.command and (not argv or _which(argv[0]) is None):
        print(f"pybpf trace: cannot run {args.command!r}: no such command or not executable", file=sys.stderr)
        return 2
    child = HeldCommand(argv, verb="trace") if argv else None
    cpid = child.pid if child else 0
    launched = None
    ahead = None
    try:
        entry = cache.cache_entry(source, params, unsafe=args.unsafe, has_child=bool(args.command))
        hit = cache.read(entry) if entry is not None else None
        announced = False
        if hit is not None and hit.modules is not None and launch.valid(hit.image):
            from pybpf.trace.preload import read_ahead

            ahead = read_ahead(hit.modules)
            out.write(launch.attaching_line(launch.probe_count(hit.image), args.json == "json"))
            out.flush()
            announced = True
            launched = launch.launch(hit.image, cpid, args.pid or 0)  # None: it does not load here, the usual
            # path says why
            if launched is None:
                hit.modules = None  # loaded the usual way below (imports first)
            elif child is not None:
                child.release()
        record = hit is not None and hit.modules is None and launch.valid(hit.image)
        before = set(sys.modules) if record else set()
        compiled = cache.unpickle(hit, cpid) if hit is not None else None
        if compiled is None:
            if launched is not None:  # an entry whose compilation no longer unpickles: not used again
                cache.remove(entry)  # type: ignore[arg-type]
                raise BpfError("the cached compilation of this script could not be read (the entry is removed): "
                               "run the command again")
            compiled = _compile(args, source, filename, params, cpid)
            if compiled is None:
                return 1
            if entry is not None:
                cache.store(entry, compiled)
        for warning in compiled.warnings:
            print(warning.render(source, filename), file=sys.stderr)
        from pybpf.trace.runtime import TraceRun

        run = TraceRun(compiled, out, json_mode=args.json == "json", pid=args.pid)
        todo, launched = launched, None
        status = run.run(child, launched=todo, announced=announced)
        if record:
            cache.remember_modules(entry, hit, [m for m in sys.modules if m not in before])  # type: ignore[arg-type]
        return status
    finally:
        if ahead is not None:
            ahead.close()
        if launched is not None:
            launched.close()
        if child is not None:
            child.kill()


def _dump(args: argparse.Namespace, script: Any, source: str, filename: str, out: TextIO, params: list[str]) -> int:
    """-d: print the generated eBPF of every probe program."""
    from pybpf.isa import disassemble
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.errors import TraceError

    try:
        compiled = compile_script(script, cpid=1 if args.command else 0, params=params, unsafe=args.unsafe)
    except TraceError as exc:
        print(exc.render(source, filename), file=sys.stderr)
        return 1
    for name, prog in compiled.spec.programs.items():
        out.write(f"{name}: {prog.section}\n{disassemble(list(prog.instructions))}\n")
    return 0
