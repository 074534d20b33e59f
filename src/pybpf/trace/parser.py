"""Recursive-descent parser of bpftrace's grammar: top-level items, probes, predicates and statements."""

from __future__ import annotations

import re

from pybpf.trace import ast
from pybpf.trace.errors import TraceError, bounded_nesting
from pybpf.trace.lexer import Token
from pybpf.trace.parser_expr import ExpressionParser

ASSIGN_OPS = ("=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=")
PROVIDER_ALIASES = {
    "t": "tracepoint", "tracepoint": "tracepoint", "rawtracepoint": "rawtracepoint", "rt": "rawtracepoint",
    "raw_tracepoint": "rawtracepoint", "u": "uprobe", "uprobe": "uprobe", "ur": "uretprobe",
    "uretprobe": "uretprobe", "i": "interval", "interval": "interval", "p": "profile", "profile": "profile",
    "f": "fentry", "fentry": "fentry", "kfunc": "fentry", "fr": "fexit", "fexit": "fexit", "kretfunc": "fexit",
    "k": "kprobe", "kprobe": "kprobe", "kr": "kretprobe", "kretprobe": "kretprobe", "s": "software",
    "software": "software", "h": "hardware", "hardware": "hardware", "usdt": "usdt", "U": "usdt",
    "watchpoint": "watchpoint", "w": "watchpoint", "iter": "iter", "it": "iter",
}
MAP_DECL_KINDS = ("hash", "lruhash", "percpuhash", "percpulruhash", "percpuarray")
TOP_LEVEL_RE = re.compile(r"(config\s*=\s*\{|macro\s+\w|let\s+@|import\s)")
TIME_UNIT_RE = re.compile(r"(\d+)([a-z]+)")


class Parser(ExpressionParser):
    """A whole script: top-level items (config, macros, map declarations), probes and statements."""

    def parse(self) -> ast.Script:
        probes: list[ast.Probe] = []
        script = ast.Script(probes, self.source)
        while True:
            self.lexer.skip_type_definitions()
            if self.lexer.pos >= len(self.source):
                break
            m = TOP_LEVEL_RE.match(self.source, self.lexer.pos)
            if m:
                self.top_level_item(m.group(1), script)
                continue
            probes.append(self.probe())
        if not probes:
            raise TraceError("no probes in the script", 1, 1, 2)
        script.defines = dict(self.lexer.defines)
        return script

    def top_level_item(self, head: str, script: ast.Script) -> None:
        """`config = { k = v; }`, `macro name(params) { body }` or `let @map = lruhash(N);`."""
        self.tok = self.lexer.next()
        start = self.advance()
        if head.startswith("import"):
            raise self.error("imports are not supported", start)
        if head.startswith("config"):
            if script.probes or script.macros or script.map_decls:
                raise self.error("the config block must come before any probe, macro or map declaration", start)
            self.expect("=")
            self.expect("{")
            while not self.is_op("}"):
                key = self.tok
                if key.kind != "ident":
                    raise self.unexpected()
                self.advance()
                self.expect("=")
                value = self.tok
                if value.kind not in ("ident", "int", "str"):
                    raise self.unexpected()
                self.advance()
                script.config[key.text.lower().removeprefix("bpftrace_")] = str(value.value if value.kind == "str"
                                                                                 else value.text)
                if self.is_op(";"):
                    self.advance()
                elif not self.is_op("}"):
                    raise self.unexpected()
            self.advance()
        elif head.startswith("macro"):
            name = self.tok
            if name.kind != "ident":
                raise self.unexpected()
            self.advance()
            self.expect("(")
            params: list[str] = []
            while not self.is_op(")"):
                if self.tok.kind not in ("ident", "var", "map"):
                    raise self.unexpected()
                params.append(self.advance().text)
                if self.is_op(","):
                    self.advance()
                elif not self.is_op(")"):
                    raise self.unexpected()
            self.advance()
            body = self.block()
            if name.text in script.macros:
                raise self.error(f"macro {name.text} is defined twice", name)
            script.macros[name.text] = ast.Macro(start.line, start.column, name.end_column, name.text, params, body)
        else:
            ref = self.tok
            if ref.kind != "map":
                raise self.unexpected()
            self.advance()
            self.expect("=")
            kind = self.tok
            if kind.kind != "ident" or kind.text not in MAP_DECL_KINDS:
                raise self.error(f"unknown map type {kind.text!r} (one of: {', '.join(MAP_DECL_KINDS)})", kind)
            self.advance()
            self.expect("(")
            size = self.tok
            if size.kind != "int" or not int(size.value or 0) > 0:
                raise self.error("the map size must be a positive integer literal", size)
            self.advance()
            self.expect(")")
            self.expect(";")
            script.map_decls[ref.text] = ast.MapDecl(ref.line, ref.column, ref.end_column, ref.text, kind.text,
                                                     int(size.value or 0))
        if self.tok.kind != "eof":
            self._rewind(self.tok)
        else:
            self.lexer.pos = len(self.source)

    def probe(self) -> ast.Probe:
        points = []
        while True:
            tok = self.lexer.attach_point()
            if tok is None:
                self.tok = self.lexer.next()
                raise self.unexpected()
            points.append(self.attach_point(tok))
            if self.lexer.peek_char() == ",":
                self.lexer.next()
                continue
            break
        self.tok = self.lexer.next()
        first = points[0]
        predicate = None
        if self.is_op("/"):
            self.advance()
            self.predicate_depth = 0
            self.paren_depth = 0
            predicate = self.expression()
            self.predicate_depth = -1
            self.expect("/")
        if not self.is_op("{"):
            raise self.unexpected()
        body = self.block()
        # the token after "}" has been read by block(): hand the raw position back to the lexer
        if self.tok.kind != "eof":
            self._rewind(self.tok)
        return ast.Probe(first.line, first.column, first.end_column, points, predicate, body)

    def _rewind(self, tok: Token) -> None:
        """Put the lexer back at `tok` (attach points are not tokens: they are re-read as raw text)."""
        lines = self.source.split("\n")
        self.lexer.pos = sum(len(x) + 1 for x in lines[: tok.line - 1]) + tok.column - 1
        self.lexer.line, self.lexer.col = tok.line, tok.column

    def attach_point(self, tok: Token) -> ast.AttachPoint:
        text = tok.text
        ap = ast.AttachPoint(tok.line, tok.column, tok.end_column, text)
        if text in ("BEGIN", "END", "begin", "end"):
            ap.provider = text.upper()
            return ap
        parts = text.split(":")
        provider = PROVIDER_ALIASES.get(parts[0])
        if provider is None or len(parts) < 2:
            raise TraceError(f"Invalid probe type: {parts[0]}" if provider is None and len(parts) > 1
                             else f"syntax error, unexpected {text}", tok.line, tok.column, tok.end_column)
        ap.provider = provider
        rest = parts[1:]
        if provider in ("tracepoint", "uprobe", "uretprobe", "interval", "profile", "software", "hardware", "usdt"):
            if len(rest) < 2 and provider not in ("interval", "profile", "software", "hardware"):
                raise TraceError(f"{provider} probe type requires 2 arguments", tok.line, tok.column,
                                 tok.end_column)
            if len(rest) == 1 and provider in ("software", "hardware"):
                rest = [rest[0], "0"]  # the event's default sample period
            elif len(rest) == 1:  # interval:1s / interval:100ms / profile:99 (the default unit)
                unit = TIME_UNIT_RE.fullmatch(rest[0])
                rest = [unit.group(2), unit.group(1)] if unit else ["s" if provider == "interval" else "hz", rest[0]]
            ap.target, ap.func = rest[0], ":".join(rest[1:])
        else:
            if provider in ("fentry", "fexit") and len(rest) == 2:
                ap.target, ap.func = rest[0], rest[1]
            else:
                ap.func = ":".join(rest)
        if not ap.func:
            raise TraceError(f"{provider} probe is missing its target", tok.line, tok.column, tok.end_column)
        return ap

    # -- statements -----------------------------------------------------------------------------
    def block(self) -> list[ast.Stmt]:
        self.expect("{")
        stmts: list[ast.Stmt] = []
        while not self.is_op("}"):
            if self.tok.kind == "eof":
                raise self.unexpected()
            if self.is_op(";"):
                self.advance()
                continue
            stmt = self.statement()
            stmts.append(stmt)
            if isinstance(stmt, (ast.If, ast.Unroll, ast.While, ast.For)):
                continue
            if self.is_op(";"):
                self.advance()
            elif not self.is_op("}"):
                raise self.unexpected()
            elif isinstance(stmt, ast.ExprStmt):
                stmt.semicolon = False
        self.advance()
        return stmts

    def statement(self) -> ast.Stmt:
        t = self.tok
        if t.kind == "ident" and t.text == "if":
            return self.if_statement()
        if t.kind == "ident" and t.text == "while":
            self.advance()
            cond = self.expression()
            return ast.While(t.line, t.column, t.end_column, cond, self.block())
        if t.kind == "ident" and t.text == "let":
            return self.let_statement()
        if t.kind == "ident" and t.text == "for":
            return self.for_statement()
        if t.kind == "ident" and t.text in ("break", "continue", "return"):
            self.advance()
            return ast.Jump(t.line, t.column, t.end_column, t.text)
        if t.kind == "ident" and t.text == "unroll":
            self.advance()
            self.expect("(")
            n = self.tok
            if n.kind != "int":
                raise self.error("unroll count must be an integer literal")
            self.advance()
            self.expect(")")
            return ast.Unroll(t.line, t.column, t.end_column, int(n.value or 0), self.block())
        if t.kind in ("map", "var"):
            target = self.postfix(self.primary())
            if self.is_op(*ASSIGN_OPS):
                op = self.advance().text
                value = self.expression()
                return ast.Assign(t.line, t.column, t.end_column, target, op, value)
            if self.is_op("++", "--"):
                op = self.advance().text
                one = ast.Integer(t.line, t.column, t.end_column, 1)
                return ast.Assign(t.line, t.column, t.end_column, target, "+=" if op == "++" else "-=", one)
            expr = self.binary_rest(target)
            return ast.ExprStmt(t.line, t.column, t.end_column, expr)
        if self.is_op("++", "--"):
            op = self.advance().text
            target = self.postfix(self.primary())
            if not isinstance(target, (ast.MapRef, ast.Variable)):
                raise self.error("++/-- need a map or a variable", t)
            one = ast.Integer(t.line, t.column, t.end_column, 1)
            return ast.Assign(t.line, t.column, t.end_column, target, "+=" if op == "++" else "-=", one)
        expr = self.expression()
        return ast.ExprStmt(t.line, t.column, t.end_column, expr)

    def let_statement(self) -> ast.Let:
        """`let $x;`, `let $x: TYPE;`, `let $x = value;`, `let $x: TYPE = value;`."""
        t = self.advance()
        var = self.tok
        if var.kind != "var":
            raise self.unexpected()
        self.advance()
        type_name = None
        if self.is_op(":"):
            self.advance()
            words: list[str] = []
            while not self.is_op("=", ";", "}") and self.tok.kind != "eof":
                words.append(self.advance().text)
            if not words:
                raise self.unexpected()
            type_name = " ".join(words).replace(" *", "*").replace("*", " *").replace("  ", " ")
        value = None
        if self.is_op("="):
            self.advance()
            value = self.expression()
        return ast.Let(t.line, t.column, var.end_column, var.text, type_name, value)

    def for_statement(self) -> ast.For:
        """`for $i : start..end { }` and `for ($kv : @map) { }` (parentheses optional)."""
        t = self.advance()
        paren = self.is_op("(")
        if paren:
            self.advance()
        var = self.tok
        if var.kind != "var":
            raise self.unexpected()
        self.advance()
        self.expect(":")
        start = end = None
        ref = None
        if self.tok.kind == "map" and not self._range_ahead():
            m = self.primary()
            assert isinstance(m, ast.MapRef)
            ref = m
        else:
            start = self.unary()
            self.expect("..")
            end = self.unary()
        if paren:
            self.expect(")")
        return ast.For(t.line, t.column, t.end_column, var.text, start, end, ref, self.block())

    def _range_ahead(self) -> bool:
        nxt = self._next()
        self._pending.append(nxt)
        return nxt.kind == "op" and nxt.text in ("..", "[")

    def if_statement(self) -> ast.If:
        t = self.advance()
        cond = self.expression()
        then = self.block()
        other: list[ast.Stmt] | None = None
        if self.tok.kind == "ident" and self.tok.text == "else":
            self.advance()
            if self.tok.kind == "ident" and self.tok.text == "if":
                other = [self.if_statement()]
            else:
                other = self.block()
        return ast.If(t.line, t.column, t.end_column, cond, then, other)

    # -- expressions ----------------------------------------------------------------------------
@bounded_nesting
def parse(source: str) -> ast.Script:
    """Parse a whole script; TraceError (with line and column) on the first syntax error."""
    return Parser(source).parse()
