"""The probe_read family in user space: copies from the program's own (bounds-checked) memory.

bpf_probe_read, _user, _kernel copy `size` bytes or, when the source is not readable, zero the
destination and return -EFAULT; the _str variants copy a NUL-terminated string of at most
size - 1 bytes plus the NUL and return its length including the NUL, like the kernel.
"""

from __future__ import annotations

from pybpf.errors import RuntimeFault
from pybpf.vm.helper_registry import HelperEnv, implements
from pybpf.vm.helpers_impl.common import EFAULT, zero_fill


def probe_read(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_probe_read*(dst, size, unsafe_ptr)."""
    size = r2 & 0xFFFFFFFF
    if size == 0:
        return 0
    try:
        data = env.read(r3, size)
    except RuntimeFault:
        zero_fill(env, r1, size)
        return EFAULT
    env.write(r1, data)
    return 0


def probe_read_str(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_probe_read*_str(dst, size, unsafe_ptr): length copied including the NUL."""
    size = r2 & 0xFFFFFFFF
    if size == 0:
        return 0
    try:
        data = env.read_str(r3, size - 1)
    except RuntimeFault:
        zero_fill(env, r1, size)
        return EFAULT
    env.write(r1, data + b"\0")
    return len(data) + 1


for _helper_id in (4, 112, 113):
    implements(_helper_id)(probe_read)
for _helper_id in (45, 114, 115):
    implements(_helper_id)(probe_read_str)
