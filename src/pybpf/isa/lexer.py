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
_S_OPERATORS = tuple(o for o in _OPERATORS if o.startswith("s"))
_PLAIN_OPERATORS = tuple(o for o in _OPERATORS if not o.startswith("s"))
# One pattern for every token; alternatives are tried in order, so `s<` is an operator and not
# the identifier `s`, and a number directly followed by letters is caught as a bad number.
_TOKEN_RE = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9][0-9_]*)(?P<tail>[\w.$]*)"
    r"|(?P<sop>" + "|".join(re.escape(o) for o in _S_OPERATORS) + ")"
    r"|(?P<ident>%?[A-Za-z_.$][\w.$]*)"
    r"|(?P<op>" + "|".join(re.escape(o) for o in _PLAIN_OPERATORS) + ")"
)
_COMMENT_RE = re.compile(r"#|;|//")


def strip_comment(line: str) -> str:
    """The line without a trailing `#`, `;` or `//` comment."""
    match = _COMMENT_RE.search(line)
    return line[: match.start()] if match else line


def _number(word: str, lineno: int, column: int) -> int:
    try:
        return int(word, 0) if word[1:2] and word[1:2] in "xXbBoO" else int(word, 10)
    except ValueError:  # "0x_", or more digits than int() accepts
        raise AssemblyError(f"invalid number {word!r}", line=lineno, column=column) from None


def tokenize(line: str, lineno: int) -> list[Token]:
    """Split one source line (a trailing comment is dropped) into tokens ending with END."""
    text = strip_comment(line)
    tokens: list[Token] = []
    pos, size = 0, len(text)
    match_token = _TOKEN_RE.match
    while pos < size:
        match = match_token(text, pos)
        if match is None:
            raise AssemblyError(f"unexpected character {text[pos]!r}", line=lineno, column=pos + 1)
        kind = match.lastgroup
        column = pos + 1
        pos = match.end()
        if kind == "space":
            continue
        if kind == "tail":  # a number (lastgroup names its trailing-letters group)
            word = match.group("number")
            if match.group("tail"):
                bad = word + match.group("tail")
                raise AssemblyError(f"invalid number {bad!r}", line=lineno, column=column)
            tokens.append(Token(Tok.NUMBER, word, column, _number(word, lineno, column)))
        elif kind == "ident":
            tokens.append(Token(Tok.IDENT, match.group(), column))
        else:
            tokens.append(Token(Tok.PUNCT, match.group(), column))
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
