"""The LLVM JIT: eBPF bytecode translated to LLVM IR, compiled for the host with llvmlite, run via ctypes."""

from __future__ import annotations

from pybpf.vm.jit.compiler import CompiledCode, clear_cache, compile_program
from pybpf.vm.jit.irgen import TranslateOptions
from pybpf.vm.jit.runner import NativeMachine

__all__ = ["CompiledCode", "NativeMachine", "TranslateOptions", "clear_cache", "compile_program"]
