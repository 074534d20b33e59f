"""USDT probes: `.note.stapsdt` notes, argument specs, semaphores and -p, on a program built by the test."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.errors import LoadError
from pybpf.trace.usdt import UsdtArg, parse_arg, read_notes, reg_offset

APP_C = Path(__file__).parent / "data" / "usdt_app.c"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The USDT test program, built freestanding with the project's C compiler (zig cc)."""
    from pybpf.toolchain import zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed (pip install ziglang)")
    out = tmp_path_factory.mktemp("usdt") / "usdt_app"
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-none", "-nostdlib", "-static", "-O1",
           "-fno-stack-protector", "-o", str(out), str(APP_C)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return str(out)


def test_argument_specs() -> None:
    assert parse_arg("-4@%edi") == UsdtArg(4, True, "reg", "rdi", 0, "-4@%edi")
    assert parse_arg("8@-8(%rbp)") == UsdtArg(8, False, "mem", "rbp", -8, "8@-8(%rbp)")
    assert parse_arg("2@(%r12)") == UsdtArg(2, False, "mem", "r12", 0, "2@(%r12)")
    assert parse_arg("4@$42") == UsdtArg(4, False, "const", "", 42, "4@$42")
    assert parse_arg("1@%r9b").register == "r9"
    assert parse_arg("4@8(%rax,%rbx,2)") == UsdtArg(4, False, "sib", "rax", 8, "4@8(%rax,%rbx,2)", "rbx", 2)
    for bad in ("4@%xmm0", "3@%eax", "4@counter(%rip)", "eax"):
        with pytest.raises(LoadError):
            parse_arg(bad)
    assert (reg_offset("ip"), reg_offset("sp"), reg_offset("di"), reg_offset("r8"), reg_offset("zz")) == (
        128, 152, 112, 72, None)


def test_notes_of_the_test_program(app: str) -> None:
    probes = {(p.provider, p.name): p for p in read_notes(app)}
    assert set(probes) == {("app", "start"), ("app", "work"), ("app", "done")}
    work = probes[("app", "work")]
    assert [(a.size, a.signed, a.kind) for a in work.args] == [(4, True, "reg"), (8, False, "reg"), (8, False, "mem")]
    assert work.semaphore > 0 and probes[("app", "done")].semaphore == 0
    assert [a.offset for a in probes[("app", "done")].args] == [42]
    with open(app, "rb") as f:
        data = f.read()
    assert data[work.offset] == 0x90  # the probe's nop


def _trace(script: str, argv: list[str], pid: int | None = None) -> tuple[str, int]:
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import Child, TraceRun

    child = Child(argv)
    try:
        compiled = compile_script(script, cpid=child.pid)
        out = io.StringIO()
        TraceRun(compiled, out, pid=pid).run(child)
    finally:
        child.kill()
    assert child.status is not None
    return out.getvalue(), os.waitstatus_to_exitcode(child.status)


@pytest.mark.kernel
def test_usdt_arguments_and_semaphore_in_the_kernel(app: str) -> None:
    script = (f'usdt:{app}:app:work {{ printf("%d %ld %ld\\n", arg0, arg1, arg2); }} '
              f'usdt:{app}:done {{ printf("done %d %s\\n", arg0, probe); }} usdt:{app}:app:st* {{ @starts = count(); }}')
    out, status = _trace(script, [app, "4"])
    locations = len(read_notes(app))  # one uprobe per probe location (the compiler may copy app:start's)
    assert out == (f"Attaching {locations} probes...\n"
                   "0 0 0\n-1 10000000000 7\n-2 20000000000 14\n-3 30000000000 21\n"
                   f"done 42 usdt:{app}:done\n\n\n@starts: 1\n")
    assert status == 4  # the semaphore was set for every work() call while traced
    assert subprocess.run([app, "4"], check=False).returncode == 0  # ... and not without a tracer


@pytest.mark.kernel
def test_usdt_with_pid(app: str) -> None:
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import TraceRun

    proc = subprocess.Popen([app, "3", "wait"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    stdin = proc.stdin

    def release() -> None:
        stdin.write(b"x")
        stdin.flush()

    try:
        compiled = compile_script(f"usdt:{app}:app:work {{ @sum = sum(arg2); @n = count(); }}")
        out = io.StringIO()
        TraceRun(compiled, out, pid=proc.pid).run(None, on_attached=release)
    finally:
        proc.wait(timeout=30)
    assert out.getvalue() == "Attaching 1 probe...\n\n\n@n: 3\n@sum: 21\n"
    assert proc.returncode == 3


def test_missing_usdt_probe_is_a_script_error(app: str) -> None:
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.errors import TraceError

    with pytest.raises(TraceError, match="No USDT probes matched"):
        compile_script(f"usdt:{app}:app:nosuch {{ }}")
    with pytest.raises(TraceError, match="has 0 arguments"):
        compile_script(f"usdt:{app}:app:start {{ @x = arg0; }}")


def test_list_usdt_probes(app: str) -> None:
    from pybpf.trace.command import list_probes

    out = io.StringIO()
    assert list_probes(f"usdt:{app}:*", out) == 0
    assert out.getvalue() == "".join(f"usdt:{app}:app:{n}\n" for n in ("done", "start", "work"))


@pytest.mark.kernel
def test_reg_and_uaddr_in_usdt_probes(app: str) -> None:
    # di holds work()'s first argument; uaddr() points at the semaphore, which is set while traced
    script = (f'usdt:{app}:app:work {{ printf("%d %d\\n", (int32)reg("di"), *uaddr("app_work_semaphore")); }}')
    out, _ = _trace(script, [app, "2"])
    assert out == "Attaching 1 probe...\n0 1\n-1 1\n\n\n"


@pytest.mark.kernel
def test_probe_builtin_is_the_attach_point_as_written(app: str) -> None:
    import shutil

    from testlib import ROOT

    script = 'uprobe:./usdt_app:work { printf("%s\\n", probe); }'
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    ours = subprocess.run([sys.executable, "-m", "pybpf.trace", "-e", script, "-c", "./usdt_app 1"],
                          capture_output=True, text=True, timeout=60, cwd=str(Path(app).parent), env=env)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == "Attaching 1 probe...\nuprobe:./usdt_app:work\n\n\n"
    if shutil.which("bpftrace") is not None:
        theirs = subprocess.run(["bpftrace", "-e", script, "-c", "./usdt_app 1"], capture_output=True, text=True,
                                timeout=60, cwd=str(Path(app).parent))
        if theirs.returncode == 0 and theirs.stdout.startswith("Attaching"):
            assert ours.stdout == theirs.stdout
