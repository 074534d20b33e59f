"""The printf formats BPF helpers take, split as the kernel's bpf_bprintf_prepare reads them.

One reader for the verifier (bpf_snprintf's format is checked at load, check_bpf_snprintf_call) and
the user-space helpers that format at run time (trace_printk, trace_vprintk, snprintf, seq_printf).
Accepted: printable ASCII, white space and bytes from 0x80 up; %% ; an optional "[0 +-][width]" then %d %i %u %x %X
with an l or ll size prefix (no prefix: 32 bits), %c, %s, %p, %pK %px %ps %pS %pB (pointers),
%pks %pus (strings), %pI4 %pi4 %pI6 %pi6 (IP addresses). Anything else is a FormatError (-EINVAL).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_SPACE = " \t\n\v\f\r"


class FormatError(Exception):
    """The format is not one the kernel accepts (the helper returns -EINVAL; snprintf fails to load)."""


@dataclass(frozen=True)
class Conversion:
    """One conversion: `kind` is "int", "char", "str", "ptr" or "ip"; for "int" `conv` is one of diuxX
    and `size` 4 or 8; for "ip" `conv` is "i" or "I" and `family` "4" or "6"."""

    kind: str
    flags: str = ""
    width: str = ""
    conv: str = ""
    size: int = 8
    family: str = ""


def _ends_word(c: str) -> bool:
    """What may follow %s or a plain %p: the end, white space or punctuation."""
    return c == "\0" or c in _SPACE or c in _PUNCT


def text_of(fmt: bytes) -> str:
    """The format up to its NUL, refused for an ASCII control character; bytes from 0x80 up (UTF-8
    text) pass as they are, as Linux 6.18 takes them. Decoded as Latin-1, byte for byte."""
    end = fmt.find(b"\0")
    if end < 0:
        raise FormatError("format is not NUL-terminated")
    for b in fmt[:end]:
        if b < 0x80 and not (32 <= b < 127 or chr(b) in _SPACE):
            raise FormatError("format has a non-printable character")
    return fmt[:end].decode("latin-1")


def tokens(text: str) -> Iterator[str | Conversion]:
    """Literal text (a string, "%%" already folded to "%") and conversions, in order."""
    n = len(text)

    def at(j: int) -> str:
        return text[j] if j < n else "\0"

    i = 0
    while i < n:
        if text[i] != "%":
            j = text.find("%", i)
            j = n if j < 0 else j
            yield text[i:j]
            i = j
            continue
        if at(i + 1) == "%":
            yield "%"
            i += 2
            continue
        i += 1
        start = i
        while at(i) in "0+- ":
            i += 1
        flags = text[start:i]
        wstart = i
        if "1" <= at(i) <= "9":
            i += 1
            while at(i).isdigit():
                i += 1
        width = text[wstart:i]
        conv = at(i)
        if conv == "p":
            nxt = at(i + 1)
            if nxt in "ku" and at(i + 2) == "s":
                yield Conversion("str", flags, width, "s")
                i += 3
            elif nxt in "KxsSB":
                yield Conversion("ptr", flags, width, "p")
                i += 2
            elif _ends_word(nxt):
                yield Conversion("ptr", flags, width, "p")
                i += 1
            elif nxt in "iI" and at(i + 2) in "46":
                yield Conversion("ip", flags, width, nxt, family=at(i + 2))
                i += 3
            else:
                raise FormatError(f"unsupported %p{nxt} conversion")
            continue
        if conv == "s":
            if not _ends_word(at(i + 1)):
                raise FormatError("%s must be followed by a space, punctuation or the end")
            yield Conversion("str", flags, width, "s")
            i += 1
            continue
        if conv == "c":
            yield Conversion("char", flags, width, "c")
            i += 1
            continue
        size = 4
        if at(i) == "l":
            size = 8
            i += 1
            if at(i) == "l":
                i += 1
        conv = at(i)
        if conv not in "diuxX":
            raise FormatError(f"unsupported conversion {conv!r}")
        yield Conversion("int", flags, width, conv, size)
        i += 1


def check(fmt: bytes, num_args: int) -> int:
    """bpf_bprintf_prepare without arguments: the number of conversions, or FormatError when the
    format is refused or asks for more than `num_args` arguments."""
    count = 0
    for tok in tokens(text_of(fmt)):
        if isinstance(tok, Conversion):
            count += 1
            if count > num_args:
                raise FormatError("more conversions than arguments")
    return count
