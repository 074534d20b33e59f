"""pybpf trace: loops over maps, nested tuple keys, strcontains/pton, iter and watchpoint probes, and the
functions tied to probe kinds (override, path, skboutput) with bpftrace's --unsafe rules."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.trace.errors import TraceError

WATCHED_C = Path(__file__).parent / "data" / "watched.c"


def run(script: str, command: list[str] | None = None, **kw: object) -> str:
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import Child, TraceRun

    child = Child(command) if command else None
    try:
        compiled = compile_script(script, cpid=child.pid if child else 0, **kw)  # type: ignore[arg-type]
        out = io.StringIO()
        TraceRun(compiled, out).run(child)
    finally:
        if child is not None:
            child.kill()
    return out.getvalue()


def compile_only(script: str, **kw: object) -> object:
    from pybpf.trace.compiler import compile_script

    return compile_script(script, **{"dry_run": True, **kw})  # type: ignore[arg-type]


@pytest.mark.kernel
def test_for_loop_over_maps_reads_keys_and_values_and_updates_variables() -> None:
    out = run('BEGIN { @a[1] = 10; @a[2] = 20; @s["k"] = "v"; $total = 5; '
              'for ($kv : @a) { $total += $kv.1; @seen[$kv.0] = $kv.1 * 2; } '
              'for ($kv : @s) { printf("%s=%s\\n", $kv.0, $kv.1); } '
              '@n[(1, 2), 3] = 7; for ($e : @n) { printf("%d %d %d %d\\n", $e.0.0.0, $e.0.0.1, $e.0.1, $e.1); } '
              'printf("total %d\\n", $total); exit(); }')
    assert out == ("Attaching 1 probe...\nk=v\n1 2 3 7\ntotal 35\n\n\n@a[1]: 10\n@a[2]: 20\n@n[(1, 2), 3]: 7\n"
                   "@s[k]: v\n@seen[1]: 20\n@seen[2]: 40\n")


@pytest.mark.kernel
def test_for_loop_break_and_continue_stop_or_skip_elements() -> None:
    out = run('BEGIN { @m[1] = 1; @m[2] = 2; @m[3] = 3; $n = 0; $seen = 0; '
              'for ($kv : @m) { $seen += 1; if ($kv.1 == 2) { continue; } $n += $kv.1; } '
              '$stopped = 0; for ($kv : @m) { $stopped += 1; break; } '
              'printf("%d %d %d\\n", $n, $seen, $stopped); exit(); }')
    assert out == "Attaching 1 probe...\n4 3 1\n\n\n@m[1]: 1\n@m[2]: 2\n@m[3]: 3\n"


@pytest.mark.kernel
def test_return_and_exit_inside_a_loop_over_a_map_end_the_probe() -> None:
    out = run('BEGIN { @m[1] = 1; for ($kv : @m) { for ($x : @m) { if ($x.1 == 1) { exit(); } } } '
              'printf("not reached\\n"); }')
    assert out == "Attaching 1 probe...\n\n\n@m[1]: 1\n"
    out = run('BEGIN { @m[1] = 1; for ($kv : @m) { printf("in\\n"); return; } printf("not reached\\n"); } '
              'BEGIN { exit(); }')
    assert out == "Attaching 2 probes...\nin\n\n\n@m[1]: 1\n"


@pytest.mark.kernel
def test_strcontains_and_pton() -> None:
    out = run('BEGIN { $s = "hello world"; printf("%d %d %d %d\\n", strcontains($s, "world"), '
              'strcontains($s, "worlds"), strcontains($s, "hello world"), strcontains($s, "")); '
              'printf("%x %s %s\\n", pton("127.0.0.1"), ntop(pton("fe80::1")), ntop(2, pton("10.1.2.3"))); exit(); }')
    assert out == "Attaching 1 probe...\n1 0 1 1\n100007f fe80::1 10.1.2.3\n\n\n"


def test_unsafe_functions_need_the_flag() -> None:
    for call in ('system("true")', 'signal("SIGUSR1")', "signal_thread(10)"):
        with pytest.raises(TraceError, match="unsafe function being used in safe mode"):
            compile_only(f"tracepoint:syscalls:sys_enter_getppid {{ {call}; }}")
        compile_only(f"tracepoint:syscalls:sys_enter_getppid {{ {call}; }}", unsafe=True)


def test_functions_tied_to_probe_kinds() -> None:
    with pytest.raises(TraceError, match="override\\(\\) can only be used inside kprobes"):
        compile_only("tracepoint:syscalls:sys_enter_getppid { override(1); }", unsafe=True)
    with pytest.raises(TraceError, match="path\\(\\) can only be used with fentry/fexit"):
        compile_only("tracepoint:syscalls:sys_enter_openat { printf(\"%s\", path(args.filename)); }")
    with pytest.raises(TraceError, match="skboutput\\(\\) can only be used with fentry/fexit"):
        compile_only('tracepoint:syscalls:sys_enter_getppid { skboutput("x.pcap", 0, 64, 0); }')
    with pytest.raises(TraceError, match="pton\\(\\) expects an IPv4 or IPv6 address"):
        compile_only('BEGIN { $a = pton("nowhere"); }')
    with pytest.raises(TraceError, match="needle must be a string literal"):
        compile_only('BEGIN { $n = "a"; $x = strcontains("abc", $n); }')


def test_kprobe_and_tracing_only_functions_compile() -> None:
    from pybpf.abi import MapType, ProgramType

    kp = compile_only("kprobe:vfs_read { override(-5); }", unsafe=True)
    assert [p.type for p in kp.spec.programs.values()] == [ProgramType.KPROBE]  # type: ignore[attr-defined]
    fe = compile_only('fentry:vfs_open { printf("%s\\n", path(args.path)); skboutput("/tmp/pb.pcap", 0, 64, 0); }')
    spec = fe.spec  # type: ignore[attr-defined]
    if spec.programs:  # fentry resolved against this kernel's BTF (skipped with a warning where ftrace lacks)
        assert [p.type for p in spec.programs.values()] == [ProgramType.TRACING]
        assert spec.maps["skb_events"].type == MapType.PERF_EVENT_ARRAY


@pytest.mark.kernel
def test_iter_task_lists_this_process() -> None:
    try:
        out = run(f'iter:task /ctx.task.pid == {os.getpid()}/ {{ printf("%d %s\\n", ctx.task.pid, ctx.task.comm); }}')
    except Exception as exc:  # a kernel that refuses tracing programs says so at load
        assert "iter probes are not supported by this kernel" in str(exc)
        pytest.skip(f"this kernel refuses BPF iterators: {exc}")
    comm = Path("/proc/self/comm").read_text().strip()[:15]
    assert out == f"Attaching 1 probe...\n{os.getpid()} {comm}\n\n\n"


def test_iter_and_watchpoint_probe_errors() -> None:
    with pytest.raises(TraceError, match="no such iterator in this kernel's BTF"):
        compile_only("iter:no_such_thing { }", dry_run=False)
    for text, message in (("watchpoint:0x1000:3:w", "invalid watchpoint length 3"),
                          ("watchpoint:0x1000:8:wx", "invalid watchpoint mode"),
                          ("watchpoint:0x1000:8", "watchpoint:ADDRESS:LENGTH:MODE")):
        with pytest.raises(TraceError, match=message):
            compile_only(f"{text} {{ }}", dry_run=False)


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """The freestanding watched program (zig cc) and the address of its `watched` global."""
    from pybpf.kernel.uprobe import defined_symbols, open_elf
    from pybpf.toolchain import zig_available

    if not zig_available():
        pytest.skip("ziglang is not installed (pip install ziglang)")
    out = tmp_path_factory.mktemp("wp") / "watched"
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-none", "-nostdlib", "-static", "-O1",
           "-fno-pie", "-no-pie", "-o", str(out), str(WATCHED_C)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (sym,) = [s for s in defined_symbols(open_elf(str(out))) if s.name == "watched"]
    return str(out), sym.value


@pytest.mark.kernel
def test_watchpoint_counts_the_writes_of_the_traced_command(watched: tuple[str, int]) -> None:
    binary, address = watched
    out = run(f"watchpoint:{address:#x}:8:w {{ @writes = count(); }}", [binary])
    assert out == "Attaching 1 probe...\n\n\n@writes: 5\n"
    with pytest.raises(Exception, match="needs the process: -p PID or -c CMD"):
        run(f"watchpoint:{address:#x}:8:w {{ @writes = count(); }}")
