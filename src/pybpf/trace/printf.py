"""printf format conversions as bpftrace accepts them (shared by the checker and the output formatting)."""

from __future__ import annotations

import re

CONVERSION_RE = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\d+))?"
                           r"(?P<length>hh|h|ll|l|j|z|t)?(?P<conv>[diouxXcsrpP%])")


def printf_conversions(fmt: str) -> list[str]:
    """The conversion letters of a printf format (without %%)."""
    return [m.group("conv") for m in CONVERSION_RE.finditer(fmt) if m.group("conv") != "%"]
