"""Per-call cost from Python: `run()` on each engine, `bound()`, hook `fire()` and large inputs, each
against a ctypes no-op and a raw BPF_PROG_TEST_RUN syscall measured in the same run.

The 2 MiB rows run a plain program that reads (or writes) byte 0 on a bytes input (read: used in
place; write: copied once) and, for the writing one, on a bytearray the run shares. `goals` says
whether JIT run() is at most 2 µs and the interpreter's run() at most the kernel path's.

A trivial XDP program (`r0 = XDP_PASS`) on a 64-byte packet, and the same as a tc program (`_tc` rows):
the run's set-up, not the program, is what is timed. Every figure is the best of several rounds of many calls (ns per call), the rounds
of all the measurements interleaved so that a busy machine slows them alike. Used by `pybpf bench`
(the "calls" part of its JSON document) and `benchmarks/calls_bench.py`.
"""

from __future__ import annotations

import ctypes
import timeit
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

PACKET = bytes(64)
BIG = 2 << 20  # 2 MiB of plain input
HOOK = "bench:call"


def _noop() -> Callable[[], Any]:
    libc = ctypes.CDLL(None)
    fn = libc.labs
    fn.restype = ctypes.c_long
    fn.argtypes = [ctypes.c_long]
    return lambda: fn(0)


def _pass_spec(program_type: str = "XDP") -> Any:
    """`r0 = 2; exit` as an XDP program (XDP_PASS), or of another type (tc: TC_ACT_SHOT)."""
    from pybpf.abi import ProgramType
    from pybpf.isa import assemble
    from pybpf.object.spec import CollectionSpec, ProgramSpec

    insns = tuple(assemble("r0 = 2\nexit", syntax="llvm"))
    return CollectionSpec.single(ProgramSpec("pass", insns, type=ProgramType[program_type]))


def _plain_spec(write: bool) -> Any:
    from pybpf.abi import ProgramType
    from pybpf.isa import assemble
    from pybpf.object.spec import CollectionSpec, ProgramSpec

    text = "r2 = 1\n*(u8 *)(r1 + 0) = r2\n" if write else ""
    insns = tuple(assemble(text + "r0 = *(u8 *)(r1 + 0)\nexit", syntax="llvm"))
    return CollectionSpec.single(ProgramSpec("plain", insns, type=ProgramType.UNSPEC))


def _hook_spec() -> Any:
    from pybpf.abi import ProgramType
    from pybpf.isa import assemble
    from pybpf.object.spec import CollectionSpec, ProgramSpec

    insns = tuple(assemble("r0 = *(u32 *)(r1 + 0)\nr0 &= 1\nexit", syntax="llvm"))
    prog = ProgramSpec("verdict", insns, type=ProgramType.RAW_TRACEPOINT, section=f"hook/{HOOK}",
                       license="GPL")
    return CollectionSpec.single(prog)


def _raw_test_run(stack: ExitStack) -> Callable[[], Any] | None:
    """A BPF_PROG_TEST_RUN syscall from ctypes with its attr built once (None without bpf())."""
    from pybpf.engines import Runtime
    from pybpf.kernel.attr import TestRunAttr, ptr
    from pybpf.kernel.syscall import Cmd, _syscall, syscall_number

    coll = stack.enter_context(Runtime("kernel", verify=False).load(_pass_spec()))
    program: Any = coll.programs["pass"]
    fd = program.fd
    din = ctypes.create_string_buffer(PACKET, len(PACKET))
    dout = ctypes.create_string_buffer(len(PACKET) + 4096)
    attr = TestRunAttr(prog_fd=fd, data_size_in=len(PACKET), data_size_out=len(dout),
                       data_in=ptr(din), data_out=ptr(dout)).raw()
    stack.callback(lambda: (din, dout))  # keep the buffers alive
    args = (ctypes.c_long(syscall_number("bpf")), ctypes.c_long(int(Cmd.PROG_TEST_RUN)), attr,
            ctypes.c_long(ctypes.sizeof(attr)))
    if _syscall(*args) != 0:
        return None
    return lambda: _syscall(*args)


def _runner(program: Any, data: bytes | bytearray) -> Callable[[], Any]:
    return lambda: program.run(data)


def _firer(hook: Any, ctx: Any) -> Callable[[], Any]:
    return lambda: hook.fire(ctx)


def _calls(stack: ExitStack, kernel: bool) -> dict[str, tuple[Callable[[], Any], int]]:
    """name -> (a call, calls per round)."""
    from pybpf.engines import Runtime
    from pybpf.hooks.hookpoint import HookPoint

    calls: dict[str, tuple[Callable[[], Any], int]] = {"ctypes_noop": (_noop(), 20000)}
    progs: dict[str, Any] = {}
    for engine in ("interp", "jit") + (("kernel",) if kernel else ()):
        coll = stack.enter_context(Runtime(engine, verify=False).load(_pass_spec()))
        progs[engine] = coll.programs["pass"]
    if kernel:
        raw = _raw_test_run(stack)
        if raw is not None:
            calls["raw_test_run"] = (raw, 5000)
    for engine, prog in progs.items():
        calls[f"{engine}_run"] = (_runner(prog, PACKET), 2000 if engine == "interp" else 5000)
    for engine in ("interp", "jit") + (("kernel",) if kernel else ()):  # the same on a tc program
        coll = stack.enter_context(Runtime(engine, verify=False).load(_pass_spec("SCHED_CLS")))
        calls[f"{engine}_run_tc"] = (_runner(coll.programs["pass"], PACKET), 2000 if engine == "interp" else 5000)
    # a bound run holds its collection: it gets one of its own
    own = stack.enter_context(Runtime("jit", verify=False).load(_pass_spec()))
    jit_pass: Any = own.programs["pass"]
    bound = stack.enter_context(jit_pass.bind(PACKET))
    calls["jit_bound"] = (bound, 20000)

    class Ctx(ctypes.Structure):
        _fields_ = [("verdict", ctypes.c_uint32), ("port", ctypes.c_uint32)]

    ctx = Ctx(verdict=1, port=80)
    empty = stack.enter_context(HookPoint(HOOK, context=Ctx))
    calls["fire_empty"] = (lambda: empty.fire(ctx), 20000)
    for engine in ("interp", "jit"):
        hook = stack.enter_context(HookPoint(HOOK, context=Ctx, engine=engine))
        hook.attach(_hook_spec())
        calls[f"fire_{engine}"] = (_firer(hook, ctx), 2000 if engine == "interp" else 20000)
        if engine == "jit":
            own = stack.enter_context(Runtime("jit", verify=True).load(_hook_spec()))
            data = bytes(ctx).ljust(hook.layout_size, b"\0")
            verdict: Any = own.programs["verdict"]
            hook_bound = stack.enter_context(verdict.bind(ctx=data))
            calls["hook_bound"] = (hook_bound, 20000)
    big = bytes(BIG)
    shared = bytearray(BIG)
    for engine in ("interp", "jit"):
        for write in (False, True):
            coll = stack.enter_context(Runtime(engine, verify=False).load(_plain_spec(write)))
            name = f"{engine}_run_2mib_{'write' if write else 'read'}"
            calls[name] = (_runner(coll.programs["plain"], big), 20)
            if write:  # the caller's writable buffer, shared by the run
                calls[f"{name}_bytearray"] = (_runner(coll.programs["plain"], shared), 20)
    return calls


def measure(*, quick: bool = False, kernel: bool = True) -> dict[str, Any]:
    """ns per call of each measurement, best of the interleaved rounds, and ratios."""
    rounds = 3 if quick else 15
    scale = 0.1 if quick else 1.0
    best: dict[str, float] = {}
    with ExitStack() as stack:
        calls = _calls(stack, kernel)
        for _ in range(rounds):
            for name, (fn, number) in calls.items():
                n = max(1, int(number * scale))
                ns = timeit.timeit(fn, number=n) / n * 1e9
                best[name] = min(best.get(name, ns), ns)
    noop = best["ctypes_noop"]
    out: dict[str, Any] = {"ns": {k: round(v, 1) for k, v in best.items()},
                           "per_noop": {k: round(v / noop, 2) for k, v in best.items()}}
    ratios = {"jit_run_per_bound": ("jit_run", "jit_bound"),
              "fire_jit_per_hook_bound": ("fire_jit", "hook_bound"),
              "interp_run_per_kernel_run": ("interp_run", "kernel_run"),
              "jit_run_per_kernel_run": ("jit_run", "kernel_run"),
              "jit_run_tc_per_kernel_run_tc": ("jit_run_tc", "kernel_run_tc"),
              "kernel_run_per_raw_test_run": ("kernel_run", "raw_test_run"),
              "jit_run_2mib_write_per_read": ("jit_run_2mib_write", "jit_run_2mib_read"),
              "jit_run_2mib_write_bytearray_per_read": ("jit_run_2mib_write_bytearray",
                                                        "jit_run_2mib_read"),
              "interp_run_2mib_write_per_read": ("interp_run_2mib_write", "interp_run_2mib_read"),
              "interp_run_2mib_write_bytearray_per_read": ("interp_run_2mib_write_bytearray",
                                                           "interp_run_2mib_read")}
    out["ratios"] = {k: round(best[a] / best[b], 2) for k, (a, b) in ratios.items()
                     if a in best and b in best}
    goals = {"jit_run_at_most_2us": best["jit_run"] <= 2000,
             "jit_run_tc_at_most_2us": best["jit_run_tc"] <= 2000}
    if "kernel_run" in best:
        goals["interp_run_at_most_kernel_run"] = best["interp_run"] <= best["kernel_run"]
    out["goals"] = goals
    return out


def format_calls(document: dict[str, Any]) -> str:
    lines = ["per call from Python (ns; x = per ctypes no-op):"]
    for name, ns in document["ns"].items():
        lines.append(f"  {name:26s} {ns:>12,.0f}  {document['per_noop'][name]:>9.1f}x")
    lines.extend(f"  {k}: {v:.2f}" for k, v in document["ratios"].items())
    lines.extend(f"  goal {k}: {'met' if v else 'NOT met'}" for k, v in document.get("goals", {}).items())
    return "\n".join(lines)
