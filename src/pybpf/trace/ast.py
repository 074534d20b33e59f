"""The typed AST of a bpftrace script: probes, statements and expressions, each with its source position."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Node:
    line: int
    column: int
    end_column: int

    def span(self) -> tuple[int, int, int]:
        return self.line, self.column, self.end_column


@dataclass(eq=False)
class Expr(Node):
    # filled by semantic analysis: a pybpf.trace.types.Type
    type: Any = field(default=None, init=False, repr=False)


@dataclass(eq=False)
class Integer(Expr):
    value: int


@dataclass(eq=False)
class String(Expr):
    value: str


@dataclass(eq=False)
class Builtin(Expr):
    name: str


@dataclass(eq=False)
class Variable(Expr):
    name: str


@dataclass(eq=False)
class MapRef(Expr):
    name: str
    keys: list[Expr] | None = None


@dataclass(eq=False)
class FieldAccess(Expr):
    base: Expr
    name: str


@dataclass(eq=False)
class Call(Expr):
    name: str
    args: list[Expr]


@dataclass(eq=False)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(eq=False)
class Unary(Expr):
    op: str
    operand: Expr


@dataclass(eq=False)
class Ternary(Expr):
    cond: Expr
    then: Expr
    other: Expr


@dataclass(eq=False)
class Cast(Expr):
    type_name: str
    operand: Expr


@dataclass(eq=False)
class Tuple(Expr):
    items: list[Expr]


@dataclass(eq=False)
class BlockExpr(Expr):
    """`{ stmt; ...; value }`: statements run in order, then the block's value (its `let`s are its own)."""

    body: list[Stmt]
    value: Expr


@dataclass(eq=False)
class Stmt(Node):
    pass


@dataclass(eq=False)
class ExprStmt(Stmt):
    expr: Expr
    semicolon: bool = True  # False for the last expression of a block without ';' (a macro's value)


@dataclass(eq=False)
class Assign(Stmt):
    target: Expr  # MapRef or Variable
    op: str  # "=", "+=", ...
    value: Expr


@dataclass(eq=False)
class If(Stmt):
    cond: Expr
    then: list[Stmt]
    other: list[Stmt] | None


@dataclass(eq=False)
class Unroll(Stmt):
    count: int
    body: list[Stmt]


@dataclass(eq=False)
class While(Stmt):
    cond: Expr
    body: list[Stmt]


@dataclass(eq=False)
class Let(Stmt):
    """`let $x;`, `let $x: type;`, `let $x = value;` (a declaration with an optional type and value)."""

    name: str
    type_name: str | None
    value: Expr | None

    def assignment(self) -> Assign | None:
        """`let $x = v` as the assignment `$x = v` (the same node every time)."""
        if self.value is None:
            return None
        cached = self.__dict__.get("_assign")
        if cached is None:
            cached = Assign(self.line, self.column, self.end_column, Variable(self.line, self.column, self.end_column,
                                                                              self.name), "=", self.value)
            self.__dict__["_assign"] = cached
        return cached


@dataclass(eq=False)
class For(Stmt):
    """`for $i : start..end { }` (range; `map` is None) or `for $kv : @map { }`."""

    var: str
    start: Expr | None
    end: Expr | None
    map: MapRef | None
    body: list[Stmt]


@dataclass(eq=False)
class Jump(Stmt):
    kind: str  # "break", "continue", "return"


@dataclass(eq=False)
class AttachPoint(Node):
    text: str
    provider: str = ""
    target: str = ""  # binary for uprobes, category for tracepoints, unit for interval/profile
    func: str = ""  # function / event name / value


@dataclass(eq=False)
class Probe(Node):
    attach_points: list[AttachPoint]
    predicate: Expr | None
    body: list[Stmt]


@dataclass(eq=False)
class Macro(Node):
    """`macro name(x, $v, @m) { ... }`: inlined where it is called (parameters substituted)."""

    name: str
    params: list[str]
    body: list[Stmt]


@dataclass(eq=False)
class MapDecl(Node):
    """`let @name = lruhash(4096);`: the map's BPF type and its maximum number of entries."""

    name: str
    kind: str
    max_entries: int


@dataclass(eq=False)
class Script:
    probes: list[Probe]
    source: str = ""
    defines: dict[str, int] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    macros: dict[str, Macro] = field(default_factory=dict)
    map_decls: dict[str, MapDecl] = field(default_factory=dict)
