"""The eBPF instruction set (RFC 9669) as data: opcodes, Instruction, bytecode, assembler, disassembler."""

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
