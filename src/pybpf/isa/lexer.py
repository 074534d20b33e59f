"""Tokenizer shared by both assembly syntaxes: tokens with 1-based line/column, comments stripped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from pybpf.errors import AssemblyError


class Tok(Enum):
    """Token kinds."""

    IDENT = "identifier"  # mnemonics, registers (r1, w1, %r1), labels, keywords
    NUMBER = "number"
    PUNCT = "punctuation"  # operators and brackets
    END = "end of line"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, text, value (for numbers) and 1-based column in its line."""

    kind: Tok
    text: str
    column: int
    value: int = 0

    def describe(self) -> str:
        """How an error message names this token."""
        return "end of line" if self.kind is Tok.END else repr(self.text)


# Longest operators first so that maximal munch works.
_OPERATORS = (
    "s>>=", "s<=", "s>=", "s/=", "s%=", ">>=", "<<=",
    "s<", "s>",
    "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "==", "!=", ">=", "<=", ">>", "<<",
    "=", "<", ">", "(", ")", "[", "]", "*", "+", "-", ",", ":", "&", "|", "^", "!", "/", "%",
    "{", "}", "@",
)  # fmt: skip
_IDENT_RE = re.compile(r"%?[A-Za-z_.$][\w.$]*")
_NUMBER_RE = re.compile(r"0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9][0-9_]*")
_WORD_TAIL_RE = re.compile(r"[\w.$]+")
_DIGITS = frozenset("0123456789")
_COMMENT_RE = re.compile(r"#|;|//")


def strip_comment(line: str) -> str:
    """The line without a trailing `#`, `;` or `//` comment."""
    match = _COMMENT_RE.search(line)
    return line[: match.start()] if match else line


def tokenize(line: str, lineno: int) -> list[Token]:
    """Split one source line (comment already removed or not) into tokens ending with END."""
    text = strip_comment(line)
    tokens: list[Token] = []
    pos = 0
    size = len(text)
    while pos < size:
        char = text[pos]
        if char.isspace():
            pos += 1
            continue
        column = pos + 1
        if char in _DIGITS:
            match = _NUMBER_RE.match(text, pos)
            assert match is not None
            end = match.end()
            tail = _WORD_TAIL_RE.match(text, end)
            if tail:
                bad = text[pos : tail.end()]
                raise AssemblyError(f"invalid number {bad!r}", line=lineno, column=column)
            word = match.group()
            try:
                value = int(word, 0) if word[1:2] in "xXbBoO" and word[1:2] else int(word, 10)
            except ValueError:
                raise AssemblyError(
                    f"invalid number {word!r}", line=lineno, column=column
                ) from None
            tokens.append(Token(Tok.NUMBER, word, column, value))
            pos = end
            continue
        # `s<`, `s>=`, `s/=`, ... are operators, not the identifier `s`.
        if char == "s" and pos + 1 < size and text[pos + 1] in "<>/%":
            op = next((o for o in _OPERATORS if o[0] == "s" and text.startswith(o, pos)), None)
            if op is not None:
                tokens.append(Token(Tok.PUNCT, op, column))
                pos += len(op)
                continue
        match = _IDENT_RE.match(text, pos)
        if match:
            tokens.append(Token(Tok.IDENT, match.group(), column))
            pos = match.end()
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, pos)), None)
        if op is None:
            raise AssemblyError(f"unexpected character {char!r}", line=lineno, column=column)
        tokens.append(Token(Tok.PUNCT, op, column))
        pos += len(op)
    tokens.append(Token(Tok.END, "", len(text.rstrip()) + 1))
    return tokens


class Cursor:
    """A read position in one line's tokens with helpers that raise located AssemblyErrors."""

    def __init__(self, tokens: list[Token], lineno: int) -> None:
        self.tokens = tokens
        self.lineno = lineno
        self.pos = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.pos]

    def peek_at(self, ahead: int) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is not Tok.END:
            self.pos += 1
        return token

    def at_end(self) -> bool:
        return self.peek.kind is Tok.END

    def error(self, message: str, token: Token | None = None) -> AssemblyError:
        token = token or self.peek
        return AssemblyError(message, line=self.lineno, column=token.column)

    def accept(self, text: str) -> Token | None:
        """Consume the next token if its text is `text` (case-insensitive for identifiers)."""
        token = self.peek
        if token.kind is not Tok.END and token.text.lower() == text:
            self.pos += 1
            return token
        return None

    def expect(self, text: str, what: str | None = None) -> Token:
        token = self.accept(text)
        if token is None:
            raise self.error(f"expected {what or repr(text)}, got {self.peek.describe()}")
        return token

    def expect_end(self) -> None:
        if not self.at_end():
            raise self.error(f"unexpected {self.peek.describe()} after the instruction")

    def signed_number(self, what: str = "a number") -> tuple[int, Token]:
        """An optionally signed integer literal; returns (value, first token)."""
        first = self.peek
        sign = 1
        if first.kind is Tok.PUNCT and first.text in ("+", "-"):
            self.next()
            sign = -1 if first.text == "-" else 1
        token = self.next()
        if token.kind is not Tok.NUMBER:
            raise self.error(f"expected {what}, got {token.describe()}", token)
        return sign * token.value, first
