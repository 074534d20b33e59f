"""Compile translated programs to host machine code with LLVM (llvmlite MCJIT), with a code cache.

Compiled code is keyed by a hash of the program bytes, its relocation slots and the translation
options, plus the host CPU, the LLVM version and the translator's own source (code a cache
directory holds from another pybpf version is never run). The in-process cache makes repeated loads instant;
with a cache directory (argument or $PYBPF_JIT_CACHE) the object code also persists on disk.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from pybpf.isa.instruction import Instruction, encode, slot_count
from pybpf.vm.jit.irgen import ModuleTranslator, NativeHelper, TranslateOptions

_LOCK = threading.Lock()
_TARGET: llvm.TargetMachine | None = None
# Compiled code kept for reuse by later loads, least recently used first; a program holds its own
# CompiledCode, so evicting an entry only frees code no loaded program uses any more.
_CACHE: OrderedDict[str, CompiledCode] = OrderedDict()


def cache_limit() -> int:
    """How many compiled programs the in-process cache keeps ($PYBPF_JIT_CACHE_ENTRIES, default 64)."""
    try:
        return max(0, int(os.environ.get("PYBPF_JIT_CACHE_ENTRIES", "64")))
    except ValueError:
        return 64


_RESIDENT = [0]  # execution engines (compiled programs) alive in this process


def _released() -> None:  # may run inside a locked section (an evicted entry): no lock here
    _RESIDENT[0] -= 1


def _track(engine: llvm.ExecutionEngine) -> None:
    _RESIDENT[0] += 1
    weakref.finalize(engine, _released)


def cache_stats() -> dict[str, int]:
    """The code cache's own counters: `entries` kept for reuse (at most `cache_limit()`) and
    `resident` compiled programs alive (cached or held by a loaded program)."""
    return {"entries": len(_CACHE), "limit": cache_limit(), "resident": _RESIDENT[0]}


def _remember(key: str, code: CompiledCode) -> None:
    _CACHE[key] = code
    _CACHE.move_to_end(key)
    while len(_CACHE) > cache_limit():
        _CACHE.popitem(last=False)
ENTRY_SYMBOL = "bpf_entry"
MAIN_SYMBOL = "bpf_fn_0"
DRIVER_SYMBOLS = ("bpf_run", "bpf_repeat", "bpf_batch_xdp", "bpf_batch_xdp_out")


@dataclass
class CompiledCode:
    """Native code of one program: entry points and how long it took to build."""

    key: str
    entry: int  # {r0, budget left} bpf_entry(u64 *jctx, u64 r1, u64 r2): r0 in rax
    main: int  # {r0..r5, budget left} bpf_fn_0(u64 *jctx, fp, depth, r0..r9), the tail-call target
    engine: llvm.ExecutionEngine
    compile_seconds: float
    from_cache: str  # "", "memory" or "disk"
    object_size: int
    ir_text: str = ""
    drivers: dict[str, int] = field(default_factory=dict)  # bpf_run, bpf_repeat, bpf_batch_xdp
    budget: bool = True  # whether the code counts the instruction budget (TranslateOptions.budget)

    def __hash__(self) -> int:
        return hash(self.key)


# Code generation options (process-wide, set once before the first target machine). Callee-saved
# registers cost a push and a pop on every run: the register allocator's default lets the cold
# paths of a short program (calls into Python, slow bounds checks) claim them for the whole
# function, so a run that never leaves its hot path paid six pushes and six pops.
CODEGEN_OPTIONS: tuple[str, ...] = ("-regalloc-csr-first-time-cost=20",)
# In loops, x86 code keeps branches where LLVM formed conditional moves, as gcc does: eBPF
# loops branch mostly on packet bytes and counters, whose branches predict, while a chain of
# cmovs is paid in full on every iteration (log2_int: 2.6 -> 2.0 us, native gcc 2.1 us).
X86_CODEGEN_OPTIONS: tuple[str, ...] = ("-x86-cmov-converter-force-all",)


@functools.cache
def _configure_codegen() -> None:
    options = CODEGEN_OPTIONS
    if llvm.get_process_triple().startswith(("x86_64", "i686", "i386")):
        options += X86_CODEGEN_OPTIONS
    for option in options:
        llvm.set_option("pybpf", option)


def new_target_machine(opt: int = 3) -> llvm.TargetMachine:
    """A host target machine (an execution engine takes ownership of the one it is given)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    _configure_codegen()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        opt=opt,
        codemodel="jitdefault",
        jit=True,
    )


_CODEGEN: dict[int, llvm.TargetMachine] = {}
# Programs with more slots than this get the quick tier unless an opt_level is asked for:
# LLVM's O3 pipeline and register allocator take minutes on 10,000-instruction programs.
LARGE_PROGRAM_SLOTS = 2000
QUICK = -1  # the quick tier: SROA, instcombine, simplifycfg, DCE, then fast instruction selection


def target_machine(codegen_level: int = 3) -> llvm.TargetMachine:
    """A shared host target machine for optimising and emitting code (never given away)."""
    global _TARGET
    if codegen_level == 3:
        if _TARGET is None:
            _TARGET = new_target_machine()
        return _TARGET
    if codegen_level not in _CODEGEN:
        _CODEGEN[codegen_level] = new_target_machine(codegen_level)
    return _CODEGEN[codegen_level]


def effective_opt_level(opt_level: int | None, slots: int) -> int:
    """The optimisation tier: an explicit level, else O3 for normal programs and QUICK for huge."""
    if opt_level is not None:
        return max(QUICK, min(int(opt_level), 3))
    return QUICK if slots > LARGE_PROGRAM_SLOTS else 3


@functools.cache
def translator_digest() -> str:
    """A digest of the JIT's translator sources: what the generated code depends on besides its inputs."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def cache_key(
    insns: Sequence[Instruction],
    relocations: Mapping[int, int],
    options: TranslateOptions,
    opt_level: int,
) -> str:
    h = hashlib.sha256()
    h.update(encode(insns))
    h.update(repr(sorted(relocations.items())).encode())
    h.update(repr(options).encode())
    h.update(f"O{opt_level}|{llvmlite.__version__}|{llvm.get_process_triple()}".encode())
    h.update(llvm.get_host_cpu_name().encode())
    h.update(llvm.get_host_cpu_features().flatten().encode())
    h.update(translator_digest().encode())
    return h.hexdigest()


CACHE_MAGIC = b"PYBPF-JIT-OBJECT-1\n"


def seal_object(key: str, obj: bytes) -> bytes:
    """A cache entry: magic, the program's key, a digest binding the object to that key, the object."""
    digest = hashlib.sha256(key.encode() + b"\0" + obj).hexdigest()
    return CACHE_MAGIC + key.encode() + b"\n" + digest.encode() + b"\n" + obj


def open_sealed(key: str, entry: bytes) -> bytes | None:
    """The object of a cache entry written for `key`, or None when it is foreign, truncated or corrupt.

    LLVM's object loader trusts its input (a random file crashes the process), so nothing reaches
    it unless the digest proves it is the object compiled for this very program and options.
    """
    head = len(CACHE_MAGIC)
    if not entry.startswith(CACHE_MAGIC):
        return None
    rest = entry[head:]
    parts = rest.split(b"\n", 2)
    if len(parts) != 3 or parts[0] != key.encode():
        return None
    obj = parts[2]
    if hashlib.sha256(key.encode() + b"\0" + obj).hexdigest().encode() != parts[1]:
        return None
    return obj


def default_cache_dir() -> Path | None:
    value = os.environ.get("PYBPF_JIT_CACHE")
    return Path(value) if value else None


def optimize(module: llvm.ModuleRef, opt_level: int) -> None:
    """Run LLVM's O1-O3 pipeline, or the quick tier's few passes (registers to SSA, cleanup)."""
    tm = target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=max(opt_level, 1))
    pb = llvm.create_pass_builder(tm, pto)
    if opt_level == QUICK:
        pm = llvm.create_new_module_pass_manager()
        pm.add_sroa_pass()
        pm.add_instruction_combine_pass()
        pm.add_simplify_cfg_pass()
        pm.add_dead_code_elimination_pass()
        pm.run(module, pb)
    elif opt_level > 0:
        pb.getModulePassManager().run(module, pb)


def _drivers(engine: llvm.ExecutionEngine) -> dict[str, int]:
    out = {}
    for name in DRIVER_SYMBOLS:
        address = engine.get_function_address(name)
        if address:
            out[name] = address
    return out


def _load_object(key: str, obj: bytes) -> tuple[llvm.ExecutionEngine, int, int]:
    context = None
    empty = llvm.parse_assembly(f'; ModuleID = "holder_{key[:12]}"\n')
    engine = llvm.create_mcjit_compiler(empty, new_target_machine())
    engine._pybpf_context = context  # lives as long as its module
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    _track(engine)
    entry = engine.get_function_address(ENTRY_SYMBOL)
    main = engine.get_function_address(MAIN_SYMBOL)
    if not entry:
        raise RuntimeError("compiled object has no bpf_entry")
    return engine, entry, main


def compile_program(
    insns: Sequence[Instruction],
    *,
    relocations: Mapping[int, int] | None = None,
    options: TranslateOptions | None = None,
    native_helpers: Mapping[int, NativeHelper] | None = None,
    opt_level: int | None = None,
    cache_dir: Path | str | None = None,
    keep_ir: bool = False,
) -> CompiledCode:
    """Translate, optimise and compile `insns` (or fetch them from the cache).

    opt_level: 0-3 for LLVM's pipelines, -1 for the quick tier; None picks O3, or the quick
    tier for programs above LARGE_PROGRAM_SLOTS slots.
    """
    relocations = dict(relocations or {})
    options = options or TranslateOptions()
    opt_level = effective_opt_level(opt_level, slot_count(insns))
    if opt_level == QUICK and (options.dual_budget or options.combine_checks or options.inline_main):
        # half the code to compile (or less): no second copies of blocks or of the program
        options = dataclasses.replace(
            options, dual_budget=False, combine_checks=False, inline_main=False)
    key = cache_key(insns, relocations, options, opt_level)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None and (cached.ir_text or not keep_ir):
            _CACHE.move_to_end(key)
            return CompiledCode(
                key, cached.entry, cached.main, cached.engine, 0.0, "memory",
                cached.object_size, cached.ir_text, cached.drivers, cached.budget,
            )
        start = time.perf_counter()
        directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = directory / f"{key}.o" if directory is not None else None
        if path is not None and not keep_ir:
            try:
                cached_obj = open_sealed(key, path.read_bytes())
            except OSError:
                cached_obj = None  # absent or unreadable: compile
            if cached_obj is not None:
                engine, entry, main = _load_object(key, cached_obj)
                code = CompiledCode(
                    key, entry, main, engine, time.perf_counter() - start, "disk", len(cached_obj),
                    drivers=_drivers(engine), budget=options.budget,
                )
                _remember(key, code)
                return code
        module_ir = ModuleTranslator(insns, options, relocations, native_helpers).translate()
        module_ir.triple = llvm.get_process_triple()
        text = str(module_ir)
        module = llvm.parse_assembly(text)
        module.verify()
        optimize(module, opt_level)
        obj = target_machine(0 if opt_level == QUICK else 3).emit_object(module)
        module.close()
        engine, entry, main = _load_object(key, obj)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_bytes(seal_object(key, obj))
                tmp.replace(path)  # atomic: a reader sees the old entry or the new one, never half
            except OSError:
                pass  # a read-only cache directory only costs the next load a compile
        code = CompiledCode(
            key, entry, main, engine, time.perf_counter() - start, "", len(obj),
            text if keep_ir else "", _drivers(engine), options.budget,
        )
        _remember(key, code)
        return code


def optimized_ir(insns: Sequence[Instruction], options: TranslateOptions | None = None) -> str:
    """The optimised LLVM IR of a program (for inspection and tests)."""
    module_ir = ModuleTranslator(insns, options or TranslateOptions()).translate()
    module_ir.triple = llvm.get_process_triple()
    module = llvm.parse_assembly(str(module_ir))
    module.verify()
    optimize(module, 3)
    return str(module)


def clear_cache() -> None:
    """Forget in-process compiled code (engines stay alive while programs use them)."""
    with _LOCK:
        _CACHE.clear()


_BOUND: OrderedDict[tuple[int, int, bool], tuple[llvm.ExecutionEngine, int]] = OrderedDict()
_BOUND_LIMIT = 64


def bound_trampoline(run: int, jctx: int, *, narrow: bool) -> tuple[llvm.ExecutionEngine, int]:
    """A zero-argument native function for a pre-bound run: bpf_run(jctx, jctx[R1], jctx[R2]).

    With `narrow` (typed programs, u32 verdicts) it returns r0 & 0xffffffff, or a value above
    32 bits when the run faulted, so Python needs no second look; otherwise r0 (check FAULT).
    The JitContext address is baked in, so each NativeMachine gets its own (a few ms, once).
    Returns (engine, address): the caller keeps the engine alive while it calls the address, so
    the few recent trampolines kept here can be dropped without freeing code still in use.
    """
    from llvmlite import ir

    from pybpf.vm.jit.layout import Slot

    key = (run, jctx, narrow)
    with _LOCK:
        found = _BOUND.get(key)
        if found is not None:
            _BOUND.move_to_end(key)
            return found
        i64 = ir.IntType(64)
        i64p = i64.as_pointer()
        module = ir.Module(name=f"bound_{jctx:x}")
        module.triple = llvm.get_process_triple()
        fn = ir.Function(module, ir.FunctionType(i64, []), "bpf_bound")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        ctx = b.inttoptr(ir.Constant(i64, jctx), i64p)
        r1 = b.load(b.gep(ctx, [ir.Constant(i64, Slot.BOUND_R1)]))
        r2 = b.load(b.gep(ctx, [ir.Constant(i64, Slot.BOUND_R2)]))
        target = b.inttoptr(ir.Constant(i64, run), ir.FunctionType(i64, [i64p, i64, i64]).as_pointer())
        r0 = b.call(target, [ctx, r1, r2])
        if narrow:
            fault = b.load(b.gep(ctx, [ir.Constant(i64, Slot.FAULT)]))
            faulted = b.icmp_unsigned("!=", fault, ir.Constant(i64, 0))
            value = b.and_(r0, ir.Constant(i64, 0xFFFFFFFF))
            r0 = b.select(faulted, ir.Constant(i64, 1 << 32), value)
        b.ret(r0)
        parsed = llvm.parse_assembly(str(module))
        engine = llvm.create_mcjit_compiler(parsed, new_target_machine())
        engine.finalize_object()
        address = engine.get_function_address("bpf_bound")
        _BOUND[key] = (engine, address)
        while len(_BOUND) > _BOUND_LIMIT:
            _BOUND.popitem(last=False)
        return engine, address
