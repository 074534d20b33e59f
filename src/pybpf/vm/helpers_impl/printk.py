"""bpf_trace_printk, bpf_trace_vprintk and bpf_snprintf with the kernel's format rules.

The kernel (bpf_bprintf_prepare) accepts printable ASCII only, at most 3 arguments for
trace_printk and 12 for trace_vprintk/snprintf, and the conversions %d %i %u %x %X with l/ll
size prefixes (without a prefix the argument is truncated to 32 bits), %c, %s (a string read
from the program's memory, "" when unreadable), %p/%px/%pK/%ps/%pS/%pB (pointers, printed raw as
16 hex digits: user space has no pointer hashing), %pks/%pus (strings), %pI4/%pi4/%pI6/%pi6 (IP
addresses read from memory), %% and an optional "[0 +-][width]" before the conversion. Anything
else is -EINVAL. Output is limited to 512 bytes (MAX_BPRINTF_BUF); the return values are the
kernel's (trace_printk: characters formatted; snprintf: length + 1, the NUL included).

Memory stays bounded whatever the format asks: like the kernel's vsnprintf, a field width is
clamped to FIELD_WIDTH_MAX and only the characters that fit the output buffer are produced; the
rest is counted, not built (`%999999999d` costs nothing but its count).
"""

from __future__ import annotations

from pybpf.errors import RuntimeFault
from pybpf.vm.helper_registry import HelperEnv, implements
from pybpf.vm.helpers_impl.common import EINVAL, M64, rc

MAX_BPRINTF_BUF = 512
MAX_TRACE_PRINTK_VARARGS = 3
MAX_BPRINTF_VARARGS = 12
MAX_FMT = 4096
FIELD_WIDTH_MAX = (1 << 23) - 1  # lib/vsprintf.c clamps wider fields to this


class _Output:
    """The formatted text up to `limit` characters, and the length the whole text would have."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.total = 0
        self.limit = limit

    def add(self, text: str) -> None:
        self.total += len(text)
        room = self.limit - self.kept
        if room > 0:
            piece = text[:room]
            self.parts.append(piece)
            self.kept += len(piece)

    def pad(self, char: str, count: int) -> None:
        self.total += count
        room = min(count, self.limit - self.kept)
        if room > 0:
            self.parts.append(char * room)
            self.kept += room

    def field(self, core: str, flags: str, width: str, zero_pad: bool) -> None:
        """`core` padded to `width` as printf does ('-' left-justifies, '0' pads numbers after the sign)."""
        fill = max(0, min(int(width or 0), FIELD_WIDTH_MAX) - len(core))
        if "-" in flags:
            self.add(core)
            self.pad(" ", fill)
        elif "0" in flags and zero_pad:
            sign = core[:1] if core[:1] in ("+", "-", " ") else ""
            self.add(sign)
            self.pad("0", fill)
            self.add(core[len(sign) :])
        else:
            self.pad(" ", fill)
            self.add(core)

    def text(self) -> str:
        return "".join(self.parts)


class FormatError(Exception):
    """The format is not one the kernel accepts (the helper returns -EINVAL)."""


def _read_string(env: HelperEnv, address: int, limit: int) -> bytes:
    try:
        return env.read_str(address, limit)
    except RuntimeFault:
        return b""


def _read(env: HelperEnv, address: int, size: int) -> bytes | None:
    try:
        return env.read(address, size)
    except RuntimeFault:
        return None


def _ip(env: HelperEnv, kind: str, family: str, address: int) -> str:
    raw = _read(env, address, 4 if family == "4" else 16)
    if raw is None:
        return ""
    if family == "4":
        return ".".join((f"{b:03d}" if kind == "i" else str(b)) for b in raw)
    groups = [raw[i : i + 2].hex() for i in range(0, 16, 2)]
    return "".join(groups) if kind == "i" else ":".join(groups)


def _int_text(value: int, conv: str, size: int, flags: str) -> str:
    """The digits (and sign) of an integer conversion, before any padding."""
    bits = 8 * size
    value &= (1 << bits) - 1
    sign_flags = "".join(f for f in flags if f in "+ ")
    if conv in "di":
        if value >> (bits - 1):
            value -= 1 << bits
        return ("%" + sign_flags + "d") % value
    return ("%" + ("d" if conv == "u" else conv)) % value  # C ignores sign flags on unsigned conversions


def bprintf(env: HelperEnv, fmt: bytes, args: list[int], max_args: int, limit: int = MAX_BPRINTF_BUF) -> _Output:
    """Format like the kernel's bstr_printf after bpf_bprintf_prepare; FormatError when refused."""
    end = fmt.find(b"\0")
    if end < 0:
        raise FormatError("format is not NUL-terminated")
    text = fmt[:end]
    for b in text:
        if not (32 <= b < 127 or b in b"\t\n\v\f\r"):
            raise FormatError("format has a non-printable character")
    s = text.decode("ascii")
    out = _Output(limit)
    n = len(s)
    i = 0
    spec = 0

    def at(j: int) -> str:
        return s[j] if j < n else "\0"

    while i < n:
        c = s[i]
        if c != "%":
            out.add(c)
            i += 1
            continue
        if at(i + 1) == "%":
            out.add("%")
            i += 2
            continue
        if spec >= max_args or spec >= len(args):
            raise FormatError("more conversions than arguments")
        arg = args[spec] & M64
        spec += 1
        i += 1
        start = i
        while at(i) in "0+- ":
            i += 1
        flags = s[start:i]
        wstart = i
        if "1" <= at(i) <= "9":
            i += 1
            while at(i).isdigit():
                i += 1
        width = s[wstart:i]
        conv = at(i)
        if conv == "p":
            nxt = at(i + 1)
            if nxt in "ku" and at(i + 2) == "s":
                i += 2
                conv = "s"
            elif (
                nxt == "\0"
                or nxt.isspace()
                or (nxt in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
                or nxt in "KxsSB"
            ):
                i += 2 if nxt in "KxsSB" else 1
                out.field(f"{arg:016x}", flags, width, zero_pad=False)
                continue
            elif nxt in "iI" and at(i + 2) in "46":
                out.field(_ip(env, nxt, at(i + 2), arg), flags, width, zero_pad=False)
                i += 3
                continue
            else:
                raise FormatError(f"unsupported %p{nxt} conversion")
        if conv == "s":
            nxt = at(i + 1)
            if not (nxt == "\0" or nxt.isspace() or nxt in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"):
                raise FormatError("%s must be followed by a space, punctuation or the end")
            string = _read_string(env, arg, MAX_BPRINTF_BUF).decode("latin-1")
            out.field(string, flags, width, zero_pad=False)
            i += 1
            continue
        if conv == "c":
            out.field(chr(arg & 0xFF), flags, width, zero_pad=False)
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
        out.field(_int_text(arg, conv, size, flags), flags, width, zero_pad=True)
        i += 1
    return out


def _args(env: HelperEnv, address: int, length: int) -> list[int] | None:
    """The u64 argument array of trace_vprintk/snprintf (None when malformed)."""
    if length % 8 or length > 8 * MAX_BPRINTF_VARARGS:
        return None
    if length == 0:
        return []
    raw = env.read(address, length)
    return [int.from_bytes(raw[i : i + 8], "little") for i in range(0, length, 8)]


def _emit(env: HelperEnv, out: _Output) -> int:
    line = out.text()[: MAX_BPRINTF_BUF - 1]
    env.output(line[:-1] if line.endswith("\n") else line)
    return out.total


@implements(6)
def trace_printk(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_trace_printk(fmt, fmt_size, a1, a2, a3): print a line to the trace output."""
    size = r2 & 0xFFFFFFFF
    if size == 0 or size > MAX_FMT:
        return EINVAL
    try:
        out = bprintf(env, env.read(r1, size), [r3, r4, r5], MAX_TRACE_PRINTK_VARARGS)
    except FormatError:
        return EINVAL
    return _emit(env, out)


@implements(177)
def trace_vprintk(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_trace_vprintk(fmt, fmt_size, args, args_len): trace_printk with up to 12 u64 arguments."""
    size = r2 & 0xFFFFFFFF
    args = _args(env, r3, r4 & 0xFFFFFFFF)
    if size == 0 or size > MAX_FMT or args is None or (args and not r3):
        return EINVAL
    try:
        out = bprintf(env, env.read(r1, size), args, MAX_BPRINTF_VARARGS)
    except FormatError:
        return EINVAL
    return _emit(env, out)


@implements(165)
def snprintf(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_snprintf(str, str_size, fmt, data, data_len): returns the length + 1 (NUL included)."""
    str_size = r2 & 0xFFFFFFFF
    args = _args(env, r4, r5 & 0xFFFFFFFF)
    if args is None:
        return EINVAL
    try:
        fmt = env.read_str(r3, MAX_FMT) + b"\0"
        out = bprintf(env, fmt, args, MAX_BPRINTF_VARARGS, limit=max(str_size - 1, 0))
    except FormatError:
        return EINVAL
    if str_size:
        env.write(r1, out.text().encode("latin-1")[: str_size - 1] + b"\0")
    return rc(out.total + 1)
