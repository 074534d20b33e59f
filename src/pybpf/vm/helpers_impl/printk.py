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
from pybpf.helpers.bprintf import FormatError, text_of, tokens
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
    out = _Output(limit)
    spec = 0
    for tok in tokens(text_of(fmt)):
        if isinstance(tok, str):
            out.add(tok)
            continue
        if spec >= max_args or spec >= len(args):
            raise FormatError("more conversions than arguments")
        arg = args[spec] & M64
        spec += 1
        if tok.kind == "int":
            out.field(_int_text(arg, tok.conv, tok.size, tok.flags), tok.flags, tok.width, zero_pad=True)
        elif tok.kind == "ptr":
            out.field(f"{arg:016x}", tok.flags, tok.width, zero_pad=False)
        elif tok.kind == "ip":
            out.field(_ip(env, tok.conv, tok.family, arg), tok.flags, tok.width, zero_pad=False)
        elif tok.kind == "str":
            string = _read_string(env, arg, MAX_BPRINTF_BUF).decode("latin-1")
            out.field(string, tok.flags, tok.width, zero_pad=False)
        else:
            out.field(chr(arg & 0xFF), tok.flags, tok.width, zero_pad=False)
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
