"""The eBPF instruction set (RFC 9669) as data: opcodes, Instruction, bytecode, assembler, disassembler."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf._lazy import lazy_exports

# Instructions and opcodes are cheap and used everywhere; the assembler and the disassembler are
# imported on first use (PEP 562), so that `import pybpf.isa.instruction` stays cheap.
from pybpf.isa.instruction import (
    VALID_OPCODES,
    Instruction,
    decode,
    encode,
    is_valid_opcode,
    iter_slots,
    slot_count,
)
from pybpf.isa.opcodes import (
    AluOp,
    AtomicOp,
    CallSrc,
    InsnClass,
    JmpOp,
    Mode,
    PseudoSrc,
    Size,
    Source,
)

if TYPE_CHECKING:
    from pybpf.isa.asm_common import Assembly, Relocation
    from pybpf.isa.assembler import assemble, assemble_program, detect_syntax
    from pybpf.isa.disasm import (
        DisasmLine,
        branch_labels,
        disassemble,
        disassembly,
        format_instruction,
        jump_target,
        kernel_log_line,
    )
    from pybpf.isa.encoding_rules import field_problem

_LAZY = {
    "Assembly": "asm_common", "Relocation": "asm_common",
    "assemble": "assembler", "assemble_program": "assembler", "detect_syntax": "assembler",
    "DisasmLine": "disasm", "branch_labels": "disasm", "disassemble": "disasm", "disassembly": "disasm",
    "format_instruction": "disasm", "jump_target": "disasm", "kernel_log_line": "disasm",
    "field_problem": "encoding_rules",
}

__all__ = [
    "VALID_OPCODES",
    "Assembly",
    "Relocation",
    "DisasmLine",
    "assemble",
    "assemble_program",
    "branch_labels",
    "disassemble",
    "disassembly",
    "field_problem",
    "format_instruction",
    "jump_target",
    "kernel_log_line",
    "detect_syntax",
    "AluOp",
    "AtomicOp",
    "CallSrc",
    "InsnClass",
    "Instruction",
    "JmpOp",
    "Mode",
    "PseudoSrc",
    "Size",
    "Source",
    "decode",
    "encode",
    "is_valid_opcode",
    "iter_slots",
    "slot_count",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
