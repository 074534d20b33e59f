"""Macro expansion: `macro name(x, $v, @m) { ... }` calls (and block expressions) inlined before analysis.

A macro's statements are inserted before the statement that calls it; the value of a macro (its last
expression written without ';') replaces the call. Parameters are substituted: `x` by the argument
expression, `$v` by the caller's variable, `@m` by the caller's map. Variables that the body creates are
renamed so that they never collide with the caller's (bpftrace's hygienic macros). A block expression
`{ let $y = 2; $y * 3 }` is expanded the same way: its statements before the statement using it (its
`let` variables its own), its value in its place.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import fields
from typing import Any

from pybpf.trace import ast
from pybpf.trace.errors import TraceError

MAX_DEPTH = 32


class MacroExpander:
    """Expands every macro call of a script in place."""

    def __init__(self, macros: dict[str, ast.Macro]) -> None:
        self.macros = macros
        self.counter = itertools.count(1)

    def script(self, script: ast.Script) -> None:
        for probe in script.probes:
            if probe.predicate is not None:
                hoisted: list[ast.Stmt] = []
                probe.predicate = self.expr(probe.predicate, hoisted, 0)
                if hoisted:
                    raise TraceError("a macro with statements cannot be used in a predicate", *probe.predicate.span())
            probe.body = self.block(probe.body, 0)

    # -- statements -------------------------------------------------------------------------
    def block(self, stmts: list[ast.Stmt], depth: int) -> list[ast.Stmt]:
        out: list[ast.Stmt] = []
        for s in stmts:
            call = s.expr if isinstance(s, ast.ExprStmt) else None
            if call is not None and self.macro_of(call) is not None:
                body, value = self.instantiate(call, depth)
                out.extend(self.block(body, depth + 1))
                if value is not None:
                    hoisted: list[ast.Stmt] = []
                    expr = self.expr(value, hoisted, depth + 1)
                    out.extend(hoisted)
                    out.append(ast.ExprStmt(s.line, s.column, s.end_column, expr))
                continue
            hoisted = []
            self.statement(s, hoisted, depth)
            out.extend(hoisted)
            out.append(s)
        return out

    def statement(self, s: ast.Stmt, hoisted: list[ast.Stmt], depth: int) -> None:
        loop = isinstance(s, ast.While)  # its condition is evaluated again and again
        for f in fields(s):
            value = getattr(s, f.name)
            if isinstance(value, ast.Expr):
                setattr(s, f.name, self.expr(value, hoisted, depth, loop))
            elif isinstance(value, list) and value and isinstance(value[0], ast.Stmt):
                setattr(s, f.name, self.block(value, depth))

    # -- expressions ------------------------------------------------------------------------
    def expr(self, e: ast.Expr, hoisted: list[ast.Stmt], depth: int, conditional: bool = False) -> ast.Expr:
        if isinstance(e, ast.BlockExpr):
            suffix = f"_block{next(self.counter)}"
            lets = {s.name: s.name + suffix for s in e.body if isinstance(s, ast.Let)}
            body = self.block(_rename_variables(e.body, lets), depth + 1)
            if body and conditional:
                raise TraceError("a block expression with statements cannot be evaluated conditionally "
                                 "(in ?:, after && or ||, or in a loop condition): assign it to a $variable first",
                                 *e.span())
            hoisted.extend(body)
            return self.expr(_rename_variables(e.value, lets), hoisted, depth + 1, conditional)
        if self.macro_of(e) is not None:
            body, value = self.instantiate(e, depth)
            if value is None:
                raise TraceError(f"macro {self.macro_of(e).name} has no value (its last statement must be an "  # type: ignore[union-attr]
                                 "expression without ';')", *e.span())
            hoisted.extend(self.block(body, depth + 1))
            return self.expr(value, hoisted, depth + 1)
        for f in fields(e):
            value = getattr(e, f.name)
            # the branches of ?: and the right side of && / || run only sometimes
            maybe = conditional or (isinstance(e, ast.Ternary) and f.name != "cond") or \
                (isinstance(e, ast.Binary) and e.op in ("&&", "||") and f.name == "right")
            if isinstance(value, ast.Expr):
                setattr(e, f.name, self.expr(value, hoisted, depth, maybe))
            elif isinstance(value, list):
                setattr(e, f.name, [self.expr(x, hoisted, depth, maybe) if isinstance(x, ast.Expr) else x
                                    for x in value])
        return e

    def macro_of(self, e: ast.Expr | None) -> ast.Macro | None:
        if isinstance(e, ast.Call) and e.name in self.macros:
            return self.macros[e.name]
        if isinstance(e, ast.Builtin) and e.name in self.macros and not self.macros[e.name].params:
            return self.macros[e.name]
        return None

    def instantiate(self, call: ast.Expr, depth: int) -> tuple[list[ast.Stmt], ast.Expr | None]:
        """The macro's statements with parameters substituted, and its value expression (or None)."""
        macro = self.macro_of(call)
        assert macro is not None
        if depth >= MAX_DEPTH:
            raise TraceError(f"macro {macro.name}: expansion nested more than {MAX_DEPTH} deep (recursive macro?)",
                             *call.span())
        args = call.args if isinstance(call, ast.Call) else []
        if len(args) != len(macro.params):
            raise TraceError(f"macro {macro.name}() takes {len(macro.params)} argument"
                             f"{'s' if len(macro.params) != 1 else ''} ({len(args)} provided)", *call.span())
        variables: dict[str, str] = {}
        maps: dict[str, str] = {}
        exprs: dict[str, ast.Expr] = {}
        for param, arg in zip(macro.params, args, strict=True):
            if param.startswith("$"):
                if not isinstance(arg, ast.Variable):
                    raise TraceError(f"macro {macro.name}: parameter {param} expects a $variable", *arg.span())
                variables[param] = arg.name
            elif param.startswith("@"):
                if not isinstance(arg, ast.MapRef) or arg.keys is not None:
                    raise TraceError(f"macro {macro.name}: parameter {param} expects a map", *arg.span())
                maps[param] = arg.name
            else:
                exprs[param] = arg
        suffix = f"_{macro.name}{next(self.counter)}"
        body = copy.deepcopy(macro.body)
        body = [_rename(s, variables, maps, suffix) for s in body]
        body = [_substitute(s, exprs) for s in body]
        value = None
        if body and isinstance(body[-1], ast.ExprStmt) and not body[-1].semicolon:
            last = body.pop()
            assert isinstance(last, ast.ExprStmt)
            value = last.expr
        return body, value


def _rename(node: Any, variables: dict[str, str], maps: dict[str, str], suffix: str) -> Any:
    """Parameters $v/@m to the caller's names; the body's own $variables made unique."""
    if isinstance(node, ast.Variable):
        node.name = variables.get(node.name) or (node.name if node.name[1:].isdigit() or node.name == "$#"
                                                 else node.name + suffix)
    elif isinstance(node, ast.MapRef):
        node.name = maps.get(node.name, node.name)
    elif isinstance(node, ast.Let):
        node.name = variables.get(node.name) or node.name + suffix
    elif isinstance(node, ast.For):
        node.var = variables.get(node.var) or node.var + suffix
    if isinstance(node, list):
        return [_rename(x, variables, maps, suffix) for x in node]
    if isinstance(node, ast.Node):
        for f in fields(node):
            value = getattr(node, f.name)
            if isinstance(value, (ast.Node, list)):
                setattr(node, f.name, _rename(value, variables, maps, suffix))
    return node


def _substitute(node: Any, exprs: dict[str, ast.Expr]) -> Any:
    """Identifier parameters replaced by (copies of) the argument expressions."""
    if isinstance(node, ast.Builtin) and node.name in exprs:
        return copy.deepcopy(exprs[node.name])
    if isinstance(node, list):
        return [_substitute(x, exprs) for x in node]
    if isinstance(node, ast.Node):
        for f in fields(node):
            value = getattr(node, f.name)
            if isinstance(value, (ast.Node, list)):
                setattr(node, f.name, _substitute(value, exprs))
    return node


def _rename_variables(node: Any, names: dict[str, str]) -> Any:
    """$variables (and `let` declarations) renamed as `names` says, in place."""
    if not names:
        return node
    if isinstance(node, ast.Variable | ast.Let) and node.name in names:
        node.name = names[node.name]
    if isinstance(node, list):
        return [_rename_variables(x, names) for x in node]
    if isinstance(node, ast.Node):
        for f in fields(node):
            value = getattr(node, f.name)
            if isinstance(value, (ast.Node, list)):
                _rename_variables(value, names)
    return node


def expand_macros(script: ast.Script) -> ast.Script:
    """Inline every macro call and block expression (`{ ...; value }`)."""
    MacroExpander(script.macros or {}).script(script)
    return script
