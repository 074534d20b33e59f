"""Tokenizer of the bpftrace language: tokens with line and column; attach points read as raw text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pybpf.trace.errors import TraceError

OPERATORS = (
    "<<=", ">>=", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "++", "--", "+=", "-=", "*=", "/=", "%=",
    "&=", "|=", "^=", "->", "..", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "<", ">", "=", "?", ":", ";",
    ",", "(", ")", "{", "}", "[", "]", ".",
)
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0", "a": "\a", "b": "\b",
           "f": "\f", "v": "\v", "e": "\x1b"}


DEFINE_RE = re.compile(r"#\s*define\s+(\w+)\s+\(?\s*(-?(?:0x[0-9a-fA-F]+|\d+)[uUlL]*)\s*\)?\s*$")


@dataclass(frozen=True)
class Token:
    """kind: int, str, ident, var ($x), map (@x), op, probe (attach point text), eof."""

    kind: str
    text: str
    line: int
    column: int
    value: int | str | None = None

    @property
    def end_column(self) -> int:
        return self.column + max(1, len(self.text))


class Lexer:
    """Produces tokens on demand; the parser tells it when an attach point (raw text) is expected."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.line = 1
        self.col = 1
        self.defines: dict[str, int] = {}

    def _advance(self, n: int) -> None:
        for ch in self.src[self.pos:self.pos + n]:
            if ch == "\n":
                self.line += 1
                self.col = 1
            else:
                self.col += 1
        self.pos += n

    def skip_space(self) -> None:
        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            if ch in " \t\r\n":
                self._advance(1)
            elif src.startswith("//", self.pos):
                end = src.find("\n", self.pos)
                self._advance((end if end >= 0 else len(src)) - self.pos)
            elif src.startswith("/*", self.pos):
                end = src.find("*/", self.pos + 2)
                if end < 0:
                    raise TraceError("unterminated comment", self.line, self.col, self.col + 2)
                self._advance(end + 2 - self.pos)
            elif ch == "#" and (self.col == 1 or not src[src.rfind("\n", 0, self.pos) + 1:self.pos].strip()):
                # shebang and preprocessor lines (#include, #ifndef, #define...): ignored, as there are no
                # C headers to read; `#define NAME NUMBER` lines of the script itself are kept
                end = src.find("\n", self.pos)
                m = DEFINE_RE.match(src[self.pos:end if end >= 0 else len(src)])
                if m:
                    try:
                        self.defines[m.group(1)] = int(m.group(2).rstrip("uUlL"), 0)
                    except ValueError:
                        pass
                self._advance((end if end >= 0 else len(src)) - self.pos)
            else:
                break

    def skip_type_definitions(self) -> None:
        """Skip top-level `struct X { ... };` definitions: member layouts come from the kernel's BTF."""
        while True:
            self.skip_space()
            m = re.compile(r"(struct|union|enum)\s+\w+\s*\{").match(self.src, self.pos)
            if not m:
                return
            depth, i = 0, m.end() - 1
            while i < len(self.src):
                if self.src[i] == "{":
                    depth += 1
                elif self.src[i] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            j = i + 1
            while j < len(self.src) and self.src[j] in " \t\r\n":
                j += 1
            if j < len(self.src) and self.src[j] == ";":
                i = j
            self._advance(i + 1 - self.pos)

    def attach_point(self) -> Token | None:
        """Read one attach point (`tracepoint:syscalls:sys_enter_open*`, `uprobe:/bin/sh:main`, `BEGIN`)."""
        self.skip_space()
        start, line, col = self.pos, self.line, self.col
        src = self.src
        i = self.pos
        kind_end = -1
        while i < len(src):
            ch = src[i]
            if ch == ":" and kind_end < 0:
                kind_end = i
            if ch.isalnum() or ch in "_:.*?-+[]$@!":
                i += 1
                continue
            if ch == "/":
                kind = src[start:kind_end] if kind_end >= 0 else ""
                colons = src[start:i].count(":")
                if kind in ("uprobe", "uretprobe", "u", "ur", "usdt", "U") and colons == 1:
                    i += 1
                    continue
            break
        if i == start:
            return None
        text = src[start:i]
        self._advance(i - start)
        return Token("probe", text, line, col)

    def peek_char(self) -> str:
        self.skip_space()
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def next(self) -> Token:
        self.skip_space()
        src, line, col = self.src, self.line, self.col
        if self.pos >= len(src):
            return Token("eof", "", line, col)
        ch = src[self.pos]
        if ch.isdigit():
            return self._number(line, col)
        if ch == '"':
            return self._string(line, col)
        if ch.isalpha() or ch == "_" or ch in "$@":
            j = self.pos + 1
            while j < len(src) and (src[j].isalnum() or src[j] == "_"):
                j += 1
            text = src[self.pos:j]
            if ch == "$" and len(text) == 1 and src.startswith("$#", self.pos):
                self._advance(2)
                return Token("var", "$#", line, col)
            if ch == "$" and len(text) == 1:
                raise TraceError("invalid variable name", line, col, col + 1)
            self._advance(j - self.pos)
            kind = {"$": "var", "@": "map"}.get(ch, "ident")
            return Token(kind, text, line, col)
        if ch == "'":
            end = src.find("'", self.pos + 1)
            body = src[self.pos + 1:end] if end > 0 else ""
            if body.startswith("\\") and len(body) == 2:
                body = ESCAPES.get(body[1], body[1])
            if end < 0 or len(body) != 1:
                raise TraceError("invalid character literal", line, col, col + 1)
            self._advance(end + 1 - self.pos)
            return Token("int", src[self.pos:end + 1], line, col, ord(body))
        for op in OPERATORS:
            if src.startswith(op, self.pos):
                self._advance(len(op))
                return Token("op", op, line, col)
        raise TraceError(f"invalid character '{ch}'", line, col, col + 1)

    def _number(self, line: int, col: int) -> Token:
        src = self.src
        j = self.pos
        while j < len(src) and (src[j].isalnum() or src[j] == "_"):
            j += 1
        text = src[self.pos:j]
        clean = text.replace("_", "")
        try:
            if clean.lower().startswith(("0x", "0b", "0o")):
                value = int(clean, 0)
            elif "e" in clean.lower() and not clean.lower().startswith("0x"):
                mant, _, exp = clean.lower().partition("e")
                value = int(mant) * 10 ** int(exp)
            else:
                for suffix in ("ull", "ul", "ll", "u", "l"):
                    if clean.lower().endswith(suffix):
                        clean = clean[: -len(suffix)]
                        break
                value = int(clean, 8) if len(clean) > 1 and clean.startswith("0") else int(clean)
        except ValueError:
            raise TraceError(f"invalid integer literal: {text}", line, col, col + len(text)) from None
        if value >= 1 << 64:
            raise TraceError(f"integer literal out of range: {text}", line, col, col + len(text))
        self._advance(j - self.pos)
        return Token("int", text, line, col, value)

    def _string(self, line: int, col: int) -> Token:
        src = self.src
        j = self.pos + 1
        out: list[str] = []
        while j < len(src) and src[j] != '"':
            ch = src[j]
            if ch == "\n":
                break
            if ch == "\\" and j + 1 < len(src):
                nxt = src[j + 1]
                if nxt == "x" and j + 3 < len(src):
                    try:
                        out.append(chr(int(src[j + 2:j + 4], 16)))
                        j += 4
                        continue
                    except ValueError:
                        pass
                if nxt in "01234567" and nxt != "0" or (nxt == "0" and j + 2 < len(src) and src[j + 2].isdigit()):
                    k = j + 1
                    while k < len(src) and k < j + 4 and src[k] in "01234567":
                        k += 1
                    out.append(chr(int(src[j + 1:k], 8)))
                    j = k
                    continue
                if nxt not in ESCAPES:
                    raise TraceError(f"invalid escape character '\\{nxt}'", line, col + j - self.pos,
                                     col + j - self.pos + 2)
                out.append(ESCAPES[nxt])
                j += 2
                continue
            out.append(ch)
            j += 1
        if j >= len(src) or src[j] != '"':
            raise TraceError("unterminated string", line, col, col + 1)
        text = src[self.pos:j + 1]
        self._advance(j + 1 - self.pos)
        return Token("str", text, line, col, "".join(out))
