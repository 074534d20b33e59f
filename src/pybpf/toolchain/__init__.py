"""pybpf.toolchain: compile C to eBPF objects (zig from pip, or clang) with pybpf's own headers."""

from pybpf.toolchain.compiler import (
    COMPILERS,
    INCLUDE_DIR,
    CompileError,
    CompileResult,
    ToolchainError,
    compile_c,
    compiler_command,
    include_dir,
    zig_available,
)

__all__ = [
    "COMPILERS",
    "INCLUDE_DIR",
    "CompileError",
    "CompileResult",
    "ToolchainError",
    "compile_c",
    "compiler_command",
    "include_dir",
    "zig_available",
]
