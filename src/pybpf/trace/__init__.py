"""pybpf.trace: the bpftrace language — parser, typed AST, eBPF code generation, runtime and bpftrace's output.

    from pybpf.trace import compile_script, TraceRun
    compiled = compile_script('tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }')
    TraceRun(compiled).run()            # attaches, prints events, and the maps at Ctrl-C / exit()

The command line is `pybpf trace` (or `python -m pybpf.trace`, which starts faster).
"""

from __future__ import annotations

from pybpf._lazy import lazy_exports

_EXPORTS = {"compile_script": "compiler", "CompiledScript": "compiled", "TraceRun": "runtime", "Child": "runtime",
            "parse": "parser", "TraceError": "errors"}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
