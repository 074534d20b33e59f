"""HookPoint: an application fires a hook, attached verified programs decide, their maps are readable."""

from __future__ import annotations

import ctypes
import struct
import threading
from pathlib import Path

import pytest

from pybpf.errors import LoadError, VerifierError
from pybpf.hooks.hookpoint import HookPoint

SOURCE = Path(__file__).parent.parent / "data" / "hooks" / "rate_limit.c"


class Request(ctypes.Structure):
    _fields_ = [("client", ctypes.c_uint32), ("port", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("flags", ctypes.c_uint32)]


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_rate_limiter_verdicts_and_map(engine: str) -> None:
    with HookPoint("myapp:request", context=Request, engine=engine) as hook:
        assert hook.fire(Request(client=7, port=80)) == 0  # nothing attached: allow
        hook.attach(SOURCE)
        verdicts = [hook.fire(Request(client=7, port=80, size=100)) for _ in range(5)]
        assert verdicts == [0, 0, 0, 1, 1]  # the limit is 3 requests
        assert hook.fire(Request(client=8, port=80)) == 0  # another client
        assert hook.fire(Request(client=8, port=22)) == 2
        assert hook.fire(struct.pack("<4I", 9, 80, 0, 0)) == 0  # bytes work as a context too
        seen = hook.maps["seen"]
        assert seen[struct.pack("<I", 7)] == struct.pack("<Q", 5)
        assert seen[struct.pack("<I", 8)] == struct.pack("<Q", 1)
        seen[struct.pack("<I", 7)] = struct.pack("<Q", 0)  # the application resets a client
        assert hook.fire(Request(client=7, port=80)) == 0


def test_attach_errors_are_clear(tmp_path: Path) -> None:
    hook = HookPoint("other:hook", context=Request)
    with pytest.raises(LoadError, match="no program in section 'hook/other:hook'"):
        hook.attach(SOURCE)
    with pytest.raises(LoadError, match="no such program file"):
        hook.attach(tmp_path / "missing.o")
    with pytest.raises(LoadError, match="context must be 1 to 168 bytes"):
        HookPoint("big", context=4096)


def test_an_unsafe_program_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "write_ctx.c"
    src.write_text('#include <bpf_helpers.h>\n'
                   'SEC("hook/myapp:request") int w(unsigned int *ctx) { ctx[0] = 1; return 0; }\n'
                   'char LICENSE[] SEC("license") = "GPL";\n')
    hook = HookPoint("myapp:request", context=Request)
    with pytest.raises(VerifierError):
        hook.attach(src)  # the context is read-only


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_fire_from_threads(engine: str) -> None:
    """Every thread may fire the hook (runs are serialised per collection); counts add up."""
    runs = 50 if engine == "interp" else 500
    with HookPoint("myapp:request", context=Request, engine=engine) as hook:
        hook.attach(SOURCE)
        denied: list[int] = []
        wrong: list[int] = []

        def worker(tid: int) -> None:
            for _ in range(runs):
                if hook.fire(Request(client=100 + tid, port=22)) != 2:
                    wrong.append(tid)
                denied.append(hook.fire(Request(client=100 + tid, port=80)))

        threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "a thread never got to fire"
        assert not wrong
        assert denied.count(1) == 4 * (runs - 3)  # three allowed per client
        for tid in range(4):
            assert hook.maps["seen"][struct.pack("<I", 100 + tid)] == struct.pack("<Q", runs)
