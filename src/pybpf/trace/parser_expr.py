"""The expression half of bpftrace's grammar: token plumbing and C-precedence expressions."""

from __future__ import annotations

from pybpf.trace import ast
from pybpf.trace.errors import TraceError
from pybpf.trace.lexer import Lexer, Token

BINARY_LEVELS: list[tuple[str, ...]] = [
    ("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", ">", "<=", ">="), ("<<", ">>"), ("+", "-"),
    ("*", "/", "%"),
]
CAST_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "char", "short",
              "int", "long", "unsigned", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "bool")


class ExpressionParser:
    """Recursive descent over expressions; Parser adds probes and statements on top."""

    def __init__(self, source: str) -> None:
        self.lexer = Lexer(source)
        self.source = source
        self.tok: Token = Token("eof", "", 1, 1)
        self._pending: list[Token] = []
        self.predicate_depth = -1  # >= 0 while parsing a predicate: '/' at paren depth 0 closes it
        self.paren_depth = 0

    def _next(self) -> Token:
        if self._pending:
            return self._pending.pop()
        return self.lexer.next()

    def advance(self) -> Token:
        prev = self.tok
        self.tok = self._next()
        return prev

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def error(self, message: str, tok: Token | None = None) -> TraceError:
        t = tok or self.tok
        return TraceError(message, t.line, t.column, t.end_column)

    def unexpected(self) -> TraceError:
        t = self.tok
        what = "end of file" if t.kind == "eof" else t.text
        return self.error(f"syntax error, unexpected {what}")

    def expect(self, op: str) -> Token:
        if not self.is_op(op):
            t = self.tok
            what = "end of file" if t.kind == "eof" else t.text
            raise self.error(f"syntax error, unexpected {what}, expecting {op}")
        return self.advance()

    def expression(self) -> ast.Expr:
        cond = self.binary(0)
        if self.is_op("?"):
            t = self.advance()
            then = self.expression()
            self.expect(":")
            other = self.expression()
            return ast.Ternary(cond.line, cond.column, t.end_column, cond, then, other)
        return cond

    def binary_rest(self, left: ast.Expr) -> ast.Expr:
        """Continue an expression whose first operand is already parsed (statement starting with a map)."""
        for level in range(len(BINARY_LEVELS) - 1, -1, -1):
            left = self._level_rest(level, left)
        if self.is_op("?"):
            t = self.advance()
            then = self.expression()
            self.expect(":")
            other = self.expression()
            return ast.Ternary(left.line, left.column, t.end_column, left, then, other)
        return left

    def _closes_predicate(self) -> bool:
        return self.predicate_depth >= 0 and self.paren_depth == 0 and self.is_op("/")

    def _level_rest(self, level: int, left: ast.Expr) -> ast.Expr:
        ops = BINARY_LEVELS[level]
        while self.is_op(*ops) and not self._closes_predicate():
            t = self.advance()
            right = self.binary(level + 1)
            left = ast.Binary(t.line, t.column, t.end_column, t.text, left, right)
        return left

    def binary(self, level: int) -> ast.Expr:
        if level >= len(BINARY_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        return self._level_rest(level, left)

    def unary(self) -> ast.Expr:
        t = self.tok
        if self.is_op("!", "~", "-", "*", "&", "+"):
            self.advance()
            operand = self.unary()
            if t.text == "+":
                return operand
            if t.text == "-" and isinstance(operand, ast.Integer):
                operand.value = -operand.value
                return operand
            return ast.Unary(t.line, t.column, t.end_column, t.text, operand)
        if self.is_op("++", "--"):
            raise self.error("++/-- may only be used as statements here")
        if self.is_op("(") and self._cast_ahead():
            self.advance()
            names = []
            while self.tok.kind == "ident" or self.is_op("*"):
                names.append(self.advance().text)
            self.expect(")")
            operand = self.unary()
            return ast.Cast(t.line, t.column, t.end_column, " ".join(names), operand)
        return self.postfix(self.primary())

    def _cast_ahead(self) -> bool:
        nxt = self._next()
        self._pending.append(nxt)
        return nxt.kind == "ident" and (nxt.text in CAST_TYPES or nxt.text in ("struct", "const"))

    def postfix(self, expr: ast.Expr) -> ast.Expr:
        while True:
            if self.is_op("->", "."):
                self.advance()
                name = self.tok
                if name.kind not in ("ident", "int"):
                    raise self.unexpected()
                self.advance()
                expr = ast.FieldAccess(expr.line, expr.column, name.end_column, expr, name.text)
            elif self.is_op("[") and not isinstance(expr, ast.MapRef):
                t = self.advance()
                self.paren_depth += 1
                index = self.expression()
                self.paren_depth -= 1
                self.expect("]")
                expr = ast.Call(t.line, expr.column, t.end_column, "__index", [expr, index])
            else:
                return expr

    def type_query(self, t: Token) -> ast.Expr:
        """sizeof(TYPE | expr) and offsetof(struct X, member): the type is kept as text for the analysis."""
        self.advance()
        self.expect("(")
        words: list[str] = []
        depth = 0
        while not (self.is_op(")") and depth == 0):
            if self.tok.kind == "eof":
                raise self.unexpected()
            if self.is_op("("):
                depth += 1
            elif self.is_op(")"):
                depth -= 1
            words.append(self.advance().text)
        end = self.advance()
        text = " ".join(words).replace(" *", "*")
        return ast.Call(t.line, t.column, end.end_column, t.text, [ast.String(t.line, t.column, t.end_column, text)])

    def block(self) -> list[ast.Stmt]:
        """`{ statements }`: parsed by the statement parser (pybpf.trace.parser.Parser)."""
        raise self.unexpected()

    def block_expression(self, t: Token) -> ast.BlockExpr:
        """`{ stmt; ...; value }` in an expression: the last statement, without ';', is the value."""
        self.paren_depth += 1  # a '/' inside does not close a predicate
        body = self.block()
        self.paren_depth -= 1
        last = body.pop() if body else None
        if not isinstance(last, ast.ExprStmt) or last.semicolon:
            raise TraceError("a block expression must end with its value: an expression without ';'",
                             t.line, t.column, t.end_column)
        return ast.BlockExpr(t.line, t.column, t.end_column, body, last.expr)

    def primary(self) -> ast.Expr:
        t = self.tok
        if t.kind == "int":
            self.advance()
            return ast.Integer(t.line, t.column, t.end_column, int(t.value or 0))
        if t.kind == "str":
            self.advance()
            return ast.String(t.line, t.column, t.end_column, str(t.value))
        if t.kind == "var":
            self.advance()
            return ast.Variable(t.line, t.column, t.end_column, t.text)
        if t.kind == "map":
            self.advance()
            keys = None
            if self.is_op("["):
                self.advance()
                self.paren_depth += 1
                keys = [self.expression()]
                while self.is_op(","):
                    self.advance()
                    keys.append(self.expression())
                self.paren_depth -= 1
                self.expect("]")
            return ast.MapRef(t.line, t.column, t.end_column, t.text, keys)
        if t.kind == "ident" and t.text in ("sizeof", "offsetof"):
            return self.type_query(t)
        if t.kind == "ident" and t.text in ("true", "false"):
            self.advance()
            return ast.Integer(t.line, t.column, t.end_column, int(t.text == "true"))
        if t.kind == "ident":
            self.advance()
            if self.is_op("("):
                self.advance()
                self.paren_depth += 1
                args: list[ast.Expr] = []
                if not self.is_op(")"):
                    args.append(self.expression())
                    while self.is_op(","):
                        self.advance()
                        args.append(self.expression())
                self.paren_depth -= 1
                self.expect(")")
                return ast.Call(t.line, t.column, t.end_column, t.text, args)
            return ast.Builtin(t.line, t.column, t.end_column, t.text)
        if self.is_op("{"):
            return self.block_expression(t)
        if self.is_op("("):
            self.advance()
            self.paren_depth += 1
            first = self.expression()
            if self.is_op(","):
                items = [first]
                while self.is_op(","):
                    self.advance()
                    items.append(self.expression())
                self.paren_depth -= 1
                self.expect(")")
                return ast.Tuple(t.line, t.column, t.end_column, items)
            self.paren_depth -= 1
            self.expect(")")
            return first
        raise self.unexpected()
