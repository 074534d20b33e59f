"""pybpf trace end to end in the kernel: scripts against a deterministic workload, exact output."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testlib import ROOT

pytestmark = pytest.mark.kernel
WORKLOAD_C = Path(__file__).parent / "data" / "workload.c"
OPENED = "".join(f"{{dir}}/wl_file_{i}\n" for i in range(5))


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(binary, scratch dir): the workload built statically (no loader syscalls) when possible."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the workload")
    base = tmp_path_factory.mktemp("trace")
    binary = base / "workload"
    for flags in (["-static"], []):
        proc = subprocess.run(["gcc", "-O1", *flags, "-o", str(binary), str(WORKLOAD_C)], capture_output=True)
        if proc.returncode == 0:
            break
    else:
        pytest.skip(f"cannot build the workload: {proc.stderr.decode()[-200:]}")
    scratch = base / "files"
    scratch.mkdir()
    return str(binary), str(scratch)


def trace(script: str, command: list[str] | None = None, *, json_mode: bool = False, unsafe: bool = False) -> str:
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import Child, TraceRun

    child = Child(command) if command else None
    try:
        compiled = compile_script(script, cpid=child.pid if child else 0, unsafe=unsafe)
        out = io.StringIO()
        TraceRun(compiled, out, json_mode=json_mode).run(child)
    finally:
        if child is not None:
            child.kill()
    return out.getvalue()


def test_opensnoop_style(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace('tracepoint:syscalls:sys_enter_openat /pid == cpid/ { printf("%s %d\\n", str(args->filename), '
                'args->flags & 3); }', [binary, d])
    expected = "".join(f"{d}/wl_file_{i} 2\n" for i in range(5))
    assert out == "Attaching 1 probe...\n" + expected + "\n\n"


def test_write_size_histograms_sum_and_count(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace("tracepoint:syscalls:sys_enter_write /pid == cpid/ { @w = hist(args->count); "
                "@l = lhist(args->count, 0, 600, 100); @bytes = sum(args->count); } "
                "tracepoint:syscalls:sys_enter_close /pid == cpid/ { @close = count(); }", [binary, d])
    full, empty = "@" * 52, " " * 52
    third = "@" * 17 + " " * 35
    assert out == (
        "Attaching 2 probes...\n\n\n"
        "@bytes: 1500\n"
        "@close: 5\n"
        "@l: \n" + "".join(f"[{a}, {a + 100}){' ' * (16 - len(f'[{a}, {a + 100})'))}       1 |{full}|\n"
                           for a in range(100, 600, 100)) + "\n"
        "@w: \n"
        f"[64, 128)              1 |{third}|\n"
        f"[128, 256)             1 |{third}|\n"
        f"[256, 512)             3 |{full}|\n\n")
    assert empty  # (an empty bar is spaces; none here: every bucket between first and last is used)


def test_uprobe_count_args_and_tuple_keys(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace(f"uprobe:{binary}:traced_add {{ @calls = count(); @args[arg0] = sum(arg1); "
                f"@t[comm, arg0 > 3 ? \"big\" : \"small\"] = count(); }}", [binary, d])
    assert out == ("Attaching 1 probe...\n\n\n" + "".join(f"@args[{i}]: {10 * i}\n" for i in range(7))
                   + "@calls: 7\n@t[workload, big]: 3\n@t[workload, small]: 4\n")


def test_uretprobe_return_values(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace(f"uretprobe:{binary}:traced_add {{ @st = stats(retval); @av = avg(retval); @mn = min(retval); "
                f"@mx = max(retval); @r[retval] = count(); @h = hist(retval); }}", [binary, d])
    bar17 = "@" * 17 + " " * 35
    hist = ("@h: \n"
            f"[0]                    1 |{bar17}|\n"
            f"[1]                    0 |{' ' * 52}|\n"
            f"[2, 4)                 0 |{' ' * 52}|\n"
            f"[4, 8)                 0 |{' ' * 52}|\n"
            f"[8, 16)                1 |{bar17}|\n"
            f"[16, 32)               1 |{bar17}|\n"
            f"[32, 64)               3 |{'@' * 52}|\n"
            f"[64, 128)              1 |{bar17}|\n\n")
    lines = out.split("\n")
    assert lines[:3] == ["Attaching 1 probe...", "", ""]
    assert "@av: 33\n\n" + hist + "@mn: 0\n@mx: 66\n" in out
    assert sorted(x for x in lines if x.startswith("@r[")) == sorted(f"@r[{11 * i}]: 1" for i in range(7))
    assert out.endswith("@st: count 7, average 33, total 231\n\n")


def test_execsnoop_with_join_and_data_loc_strings(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace('tracepoint:syscalls:sys_enter_execve /comm == "workload"/ { printf("%s: ", str(args->filename)); '
                'join(args->argv); } tracepoint:sched:sched_process_exec /comm == "true"/ '
                '{ printf("exec %s %d\\n", str(args->filename), args->pid == args->old_pid); }', [binary, d])
    assert out == "Attaching 2 probes...\n/bin/true: true wl-arg second\nexec /bin/true 1\n\n\n"


def test_wildcard_tracepoints_and_probe_builtin(workload: tuple[str, str]) -> None:
    binary, d = workload
    from pybpf.kernel.tracefs import list_tracepoints

    n = len(list_tracepoints("syscalls/sys_enter_pread*"))
    out = trace("tracepoint:syscalls:sys_enter_pread* /pid == cpid/ { @[probe] = count(); }", [binary, d])
    assert out == f"Attaching {n} probe{'s' if n > 1 else ''}...\n\n\n@[tracepoint:syscalls:sys_enter_pread64]: 5\n"


def test_begin_end_print_clear_time_and_exit() -> None:
    out = trace('BEGIN { @x = 5; print(@x); clear(@x); @y[1] = 2; print(@y); printf("%s|%5d|%-3x|\\n", "begin", '
                '42, 255); $s = "v"; @z[$s, 7] = 1; exit(); printf("not reached\\n"); } '
                'END { delete(@y[1]); printf("end %d\\n", @z["v", 7]); }')
    assert out == ("Attaching 2 probes...\n@x: 5\n@y[1]: 2\nbegin|   42|ff |\nend 1\n\n\n"
                   "\n\n@z[v, 7]: 1\n")  # the cleared @x and the emptied @y print blank lines


def test_interval_and_integer_maps() -> None:
    out = trace('interval:ms:100 { @i++; if (@i == 3) { printf("tick %d\\n", @i); exit(); } }')
    assert out.startswith("Attaching 1 probe...\ntick 3\n\n\n@i: ")


def test_exit_from_a_probe_stops_the_command(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace(f'uprobe:{binary}:traced_add /arg0 == 3/ {{ printf("three %d %s\\n", arg1, comm); exit(); }}',
                [binary, d])
    assert out == "Attaching 1 probe...\nthree 30 workload\n\n\n"


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="stack arguments as laid out by the x86-64 ABI")
def test_sarg_reads_stack_arguments(workload: tuple[str, str]) -> None:
    binary, d = workload
    # traced_many(1, 2, 3, 4, 5, 6, 70, 80): six in registers, 70 and 80 on the stack
    out = trace(f'uprobe:{binary}:traced_many {{ printf("%d %d %d\\n", arg5, sarg0, sarg1); exit(); }}', [binary, d])
    assert out == "Attaching 1 probe...\n6 70 80\n\n\n"


def test_json_output(workload: tuple[str, str]) -> None:
    import json

    binary, d = workload
    out = trace(f'uprobe:{binary}:traced_add {{ @c = count(); @s[arg0 % 2] = sum(arg0); }} '
                f'uretprobe:{binary}:traced_add /retval == 66/ {{ printf("last %d\\n", retval); }}', [binary, d],
                json_mode=True)
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert lines == [{"type": "attached_probes", "data": {"probes": 2}},
                     {"type": "printf", "data": "last 66\n"},
                     {"type": "map", "data": {"@c": 7}},
                     {"type": "map", "data": {"@s": {"1": 9, "0": 12}}}]


def cli(*args: str, timeout: float = 30, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "pybpf", "trace", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def test_cli_script_error_is_exit_1_with_caret() -> None:
    proc = cli("-e", "BEGIN { @x = 1 +; }")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == "stdin:1:17-18: ERROR: syntax error, unexpected ;\nBEGIN { @x = 1 +; }\n" + " " * 16 + "~\n"
    proc = cli("-e", "tracepoint:nosuch:thing { }")
    assert proc.returncode == 1 and "tracepoint not found: nosuch:thing" in proc.stderr


def test_cli_command_file_and_output(workload: tuple[str, str], tmp_path: Path) -> None:
    binary, d = workload
    script = tmp_path / "calls.bt"
    script.write_text(f"#!/usr/bin/env bpftrace\n// count calls\nuprobe:{binary}:traced_add\n{{\n  @calls = count();\n}}\n")
    out = tmp_path / "out.txt"
    proc = cli(str(script), "-c", f"{binary} {d}", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "Attaching 1 probe...\n\n\n@calls: 7\n"


def test_cli_list_tracepoints() -> None:
    proc = cli("-l", "tracepoint:syscalls:sys_enter_openat*")
    assert proc.returncode == 0
    assert "tracepoint:syscalls:sys_enter_openat\n" in proc.stdout
    assert all(line.startswith("tracepoint:syscalls:sys_enter_openat") for line in proc.stdout.splitlines())


def test_same_output_as_bpftrace(workload: tuple[str, str]) -> None:
    """When Debian's bpftrace is installed, it prints exactly what pybpf prints (tie-free scripts)."""
    if shutil.which("bpftrace") is None:
        pytest.skip("bpftrace is not installed (apt-get install bpftrace)")
    binary, d = workload
    script = (f"uprobe:{binary}:traced_add {{ @calls = count(); @args[arg0] = sum(arg1); }} "
              f"tracepoint:syscalls:sys_enter_write /pid == cpid/ {{ @w = hist(args->count); @s = stats(args->count); }}"
              f" tracepoint:syscalls:sys_enter_openat /pid == cpid/ {{ printf(\"%-20s|%5d\\n\", str(args->filename), "
              f"args->flags & 3); }}")
    ours = cli("-e", script, "-c", f"{binary} {d}")
    theirs = subprocess.run(["bpftrace", "-e", script, "-c", f"{binary} {d}"], capture_output=True, text=True,
                            timeout=60)
    if theirs.returncode != 0 or not theirs.stdout.startswith("Attaching"):
        pytest.skip(f"bpftrace did not run here: {theirs.stderr.strip()[-200:]}")
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout


def test_cli_without_bpf_permission_is_one_line_exit_2() -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop to user nobody")
    src = ROOT / "src"
    if not all(os.stat(p).st_mode & 0o005 for p in (src, src / "pybpf", src / "pybpf" / "trace")):
        pytest.skip("the sources are not readable by other users")
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", python, "-m",
         "pybpf.trace", "-e", "BEGIN { printf(\"hi\\n\"); }"],
        capture_output=True, text=True, env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}, cwd="/tmp")
    if "No module named" in proc.stderr or "SyntaxError" in proc.stderr:
        pytest.skip(f"cannot run pybpf as nobody here: {proc.stderr.strip()[-200:]}")
    if proc.returncode == 0:
        pytest.skip("this kernel allows unprivileged bpf()")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("pybpf trace: bpf() returned")


def test_pid_filter_limits_uprobes(workload: tuple[str, str]) -> None:
    binary, d = workload
    # -p with a pid that never calls the function: nothing counted, although the workload runs
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import Child, TraceRun

    child = Child([binary, d])
    try:
        compiled = compile_script(f"uprobe:{binary}:traced_add {{ @calls = count(); }}", cpid=child.pid)
        out = io.StringIO()
        TraceRun(compiled, out, pid=os.getpid()).run(child)
    finally:
        child.kill()
    assert out.getvalue() == "Attaching 1 probe...\n\n\n\n"  # the empty @calls prints a blank line


def test_cli_positional_parameters() -> None:
    proc = cli("-e", 'BEGIN { printf("%d %s %d\\n", $1 * 2, str($2), $#); exit(); }', "21", "words")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Attaching 1 probe...\n42 words 2\n\n\n"


def test_cli_pid_stops_when_the_process_exits() -> None:
    sleeper = subprocess.Popen(["sleep", "0.3"])
    try:
        proc = cli("-p", str(sleeper.pid), "-e", "BEGIN { @x = 1; }")
    finally:
        sleeper.wait()
    assert proc.returncode == 0 and proc.stdout == "Attaching 1 probe...\n\n\n@x: 1\n"


def test_kernel_stacks_and_symbols(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace('tracepoint:syscalls:sys_enter_pread64 /pid == cpid/ { @[kstack(2)] = count(); @s = kstack; '
                '@k = ksym(0); }', [binary, d])
    lines = out.splitlines()
    assert lines[:4] == ["Attaching 1 probe...", "", "", "@["]
    assert lines[4].startswith("    ") and "+" in lines[4] and lines[6] == "]: 5"
    assert "@k: 0" in lines
    at = lines.index("@s: ")
    frames = lines[at + 1:]
    assert frames[-1] == "" and all(f.startswith("        ") for f in frames[:-1])
    assert any("do_syscall_64+" in f for f in frames)


def test_struct_members_through_btf(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace("tracepoint:syscalls:sys_enter_pread64 /pid == cpid/ { @[curtask->comm, curtask->tgid == pid, "
                "curtask->real_parent->tgid] = count(); $t = (struct task_struct *)curtask; "
                "@s = $t->se.vruntime > 0; } "
                "tracepoint:syscalls:sys_enter_clock_nanosleep /pid == cpid/ { printf(\"%d.%09d\\n\", "
                "args->rqtp->tv_sec, args->rqtp->tv_nsec); }", [binary, d])
    assert out == f"Attaching 2 probes...\n0.000001234\n\n\n@[workload, 1, {os.getpid()}]: 5\n@s: 1\n"


def test_constants_in_programs(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace("#define WANT 3\ntracepoint:syscalls:sys_enter_openat /pid == cpid/ { @[args->flags & O_ACCMODE_X] = "
                "count(); }".replace("O_ACCMODE_X", "WANT") + " tracepoint:syscalls:sys_enter_pread64 /pid == cpid/ "
                "{ @t = (curtask->__state == TASK_RUNNING) + BPF_MAP_TYPE_HASH; }", [binary, d])
    assert out == "Attaching 2 probes...\n\n\n@[2]: 5\n@t: 2\n"


def test_while_break_continue_return() -> None:
    out = trace('BEGIN { $i = 0; $s = 0; while ($i < 100) { $i++; if ($i % 2 == 0) { continue; } if ($i > 50) '
                '{ break; } $s += $i; } printf("%d %d\\n", $i, $s); if ($i == 51) { exit(); return; } '
                'printf("after\\n"); }')
    assert out == "Attaching 1 probe...\n51 625\n\n\n"


def test_signal_kills_the_traced_command(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace(f'uprobe:{binary}:traced_add /arg0 == 3/ {{ signal("SIGKILL"); }} '
                f'uprobe:{binary}:traced_add {{ @c = count(); }} '
                f'tracepoint:syscalls:sys_enter_clock_nanosleep /pid == cpid/ {{ printf("not reached\\n"); }}',
                [binary, d], unsafe=True)
    assert out == "Attaching 3 probes...\n\n\n@c: 4\n"


def test_cat_and_unsafe_system(tmp_path: Path) -> None:
    (tmp_path / "note").write_text("note contents\n")
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.errors import TraceError
    from pybpf.trace.runtime import TraceRun

    script = f'BEGIN {{ cat("{tmp_path}/%s", "note"); system("echo sys %d", 7); exit(); }}'
    with pytest.raises(TraceError, match="--unsafe"):
        compile_script(script)
    out = io.StringIO()
    TraceRun(compile_script(script, unsafe=True), out).run()
    assert out.getvalue() == "Attaching 1 probe...\nnote contents\nsys 7\n\n\n"


def test_arithmetic_like_bpftrace() -> None:
    out = trace('BEGIN { $a = 10; $b = 3; printf("%d %d %d %d %d %d %d %d\\n", $a / $b, $a % $b, $a << 2, $a >> 1, '
                '$a & 6, $a | 5, $a ^ 3, ~$a); printf("%d %d %d %d %s\\n", -7 / 2, -7 % 2, (uint8)300, (int8)255, '
                'str("abcdef", 3)); exit(); }')
    # division and modulo are unsigned as in bpftrace: -7 / 2 is 0x7ffffffffffffffc, printed as a low-32-bit %d
    assert out == "Attaching 1 probe...\n3 1 40 5 2 15 9 -11\n-4 1 44 -1 ab\n\n\n"


def test_missing_symbols_and_tracepoints_are_script_errors(workload: tuple[str, str]) -> None:
    binary, _ = workload
    proc = cli("-e", f"uprobe:{binary}:no_such_function {{ }}")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "ERROR: symbol 'no_such_function' not found" in proc.stderr
    proc = cli("-e", "tracepoint:syscalls:nosuch* { }")
    assert proc.returncode == 1 and "No tracepoints matched: tracepoint:syscalls:nosuch*" in proc.stderr


def test_uprobe_latency_tool(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace(f"uprobe:{binary}:traced_add {{ @start[tid] = nsecs; }} "
                f"uretprobe:{binary}:traced_add /@start[tid]/ {{ @lat = stats(nsecs - @start[tid]); "
                f"@us = hist((nsecs - @start[tid]) / 1000); delete(@start[tid]); }} "
                f"END {{ clear(@start); }}", [binary, d])
    lines = out.splitlines()
    assert lines[:3] == ["Attaching 3 probes...", "", ""]
    assert lines[3].startswith("@lat: count 7, average ") and int(lines[3].split()[-1]) > 0
    assert lines[4:6] == ["", ""]  # the blank line after stats, then @start (every key deleted) is empty
    us = lines[lines.index("@us: ") + 1:]
    assert sum(int(line[16:24]) for line in us if "|" in line) == 7


def test_pointer_indexing(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace('tracepoint:syscalls:sys_enter_execve /comm == "workload"/ { printf("%s %s %s [%c]\\n", '
                'str(args->argv[0]), str(args->argv[2]), str(*args->argv), args->filename[1]); }', [binary, d])
    assert out == "Attaching 1 probe...\ntrue second true [b]\n\n\n"


def test_ctrl_c_prints_the_maps_and_exits_cleanly() -> None:
    import signal
    import time

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "pybpf.trace", "-e",
                             'BEGIN { @started = 1; printf("ready\\n"); } tracepoint:syscalls:sys_enter_getppid '
                             '{ @calls = count(); } END { printf("bye\\n"); }'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "Attaching 3 probes...\n"
    assert proc.stdout.readline() == "ready\n"  # BEGIN runs once every probe is attached
    for _ in range(3):
        os.getppid()
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and err == ""
    lines = out.splitlines()
    assert lines[:3] == ["bye", "", ""] and lines[-1] == "@started: 1"
    assert lines[3].startswith("@calls: ")  # getppid() of every process while attached, at least ours


def test_cli_missing_command() -> None:
    proc = cli("-e", "BEGIN { }", "-c", "/nonexistent/program --flag")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "pybpf trace: cannot run '/nonexistent/program --flag': no such command or not executable\n"


def test_rawtracepoint_arguments(workload: tuple[str, str]) -> None:
    binary, d = workload
    # raw sys_enter: arg0 is the pt_regs pointer, arg1 the syscall number (pread64 is 17 on x86-64)
    if os.uname().machine != "x86_64":
        pytest.skip("syscall numbers of x86-64")
    out = trace("rawtracepoint:sys_enter /pid == cpid && arg1 == 17/ { @[probe, arg1] = count(); }", [binary, d])
    assert out == "Attaching 1 probe...\n\n\n@[rawtracepoint:sys_enter, 17]: 5\n"


def test_profile_and_builtins() -> None:
    out = trace('profile:hz:997 { @samples = count(); } interval:ms:50 { exit(); } '
                'BEGIN { printf("%d %d %d %d %d %d %s\\n", pid, tid == pid, uid, gid, cpu < 1024, '
                'nsecs > elapsed, probe); }')
    lines = out.splitlines()
    assert lines[0] == "Attaching 3 probes..."
    assert lines[1] == f"{os.getpid()} 1 {os.getuid()} {os.getgid()} 1 1 BEGIN"
    assert lines[2:4] == ["", ""] and lines[4].startswith("@samples: ")


def test_cli_relative_binary_path(workload: tuple[str, str]) -> None:
    binary, d = workload
    folder, name = os.path.split(binary)
    proc = cli("-e", f"uretprobe:./{name}:traced_add {{ @[retval % 2] = count(); }}", "-c", f"./{name} {d}",
               cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Attaching 1 probe...\n\n\n@[1]: 3\n@[0]: 4\n"


def test_software_events(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace("software:page-faults:1 /pid == cpid/ { @faults[comm] = count(); }", [binary, d])
    lines = out.splitlines()
    assert lines[:3] == ["Attaching 1 probe...", "", ""]
    # the command faults in pages before exec (under our comm) and after it, as the workload
    (mine,) = [line for line in lines if line.startswith("@faults[workload]: ")]
    assert int(mine.split()[-1]) > 0


def test_cli_list_software_events_and_uprobe_functions(workload: tuple[str, str]) -> None:
    binary, _ = workload
    proc = cli("-l", "software:*faults*")
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == ["software:alignment-faults:", "software:emulation-faults:", "software:faults:",
                                        "software:major-faults:", "software:minor-faults:", "software:page-faults:"]
    proc = cli("-l", f"uprobe:{binary}:traced_*")
    assert proc.returncode == 0 and proc.stdout == f"uprobe:{binary}:traced_add\nuprobe:{binary}:traced_many\n"


def test_user_stacks_of_the_command_are_symbolized() -> None:
    if shutil.which("sleep") is None:
        pytest.skip("no sleep command")
    out = trace("tracepoint:syscalls:sys_enter_clock_nanosleep /pid == cpid/ { @[ustack(1)] = count(); }",
                ["sleep", "0.2"])
    lines = out.splitlines()
    assert lines[3] == "@[" and lines[-1] == "]: 1"
    # the command has exited when the map is printed: its memory map was remembered while it ran
    assert "clock_nanosleep+" in lines[4], out


def test_signedness_of_printed_values_and_keys() -> None:
    out = trace("BEGIN { @a = (uint64)-1; @b = -1; @c[(uint64)-1] = 1; @d = sum((uint64)-1); @e = (uint32)-1; "
                "@s = stats((uint64)-1); exit(); }")
    assert out == ("Attaching 1 probe...\n\n\n@a: 18446744073709551615\n@b: -1\n@c[-1]: 1\n"
                   "@d: 18446744073709551615\n@e: 4294967295\n@s: count 1, average -1, total -1\n\n")


def test_tuple_values() -> None:
    out = trace('BEGIN { @x = (1, "ab"); @x = (2, "abcdefghijkl"); @y[2] = ("w", 3, (uint8)260); $t = (5, "b"); '
                '$t = (6, "longer string"); printf("%d %s\\n", $t.0, $t.1); print((7, "z")); @z = $t; exit(); }')
    assert out == ("Attaching 1 probe...\n6 longer string\n(7, z)\n\n\n@x: (2, abcdefghijkl)\n@y[2]: (w, 3, 4)\n"
                   "@z: (6, longer string)\n")


def test_strftime() -> None:
    import time

    out = trace('BEGIN { printf("%s\\n", strftime("%Y-%m-%d", nsecs)); @y = strftime("%Y", nsecs); exit(); }')
    today = time.strftime("%Y-%m-%d")
    assert out == f"Attaching 1 probe...\n{today}\n\n\n@y: {today[:4]}\n"


def test_ntop_on_a_loopback_connection() -> None:
    import socket
    import threading

    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import TraceRun

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    script = (f"tracepoint:sock:inet_sock_set_state /args->dport == {port} && args->newstate == 1/ "
              "{ printf(\"%s -> %s:%d\\n\", ntop(args->saddr), ntop(args->daddr), args->dport); exit(); }")

    def connect() -> None:
        with socket.create_connection(("127.0.0.1", port)):
            pass

    out = io.StringIO()
    # connect once the probe is attached (BEGIN-free script: hook on_attached)
    TraceRun(compile_script(script), out).run(on_attached=lambda: threading.Thread(target=connect).start())
    server.close()
    assert out.getvalue() == f"Attaching 1 probe...\n127.0.0.1 -> 127.0.0.1:{port}\n\n\n"


def test_sizeof_offsetof_cgroupid_strerror() -> None:
    from pybpf.trace.structs import kernel_btf, member, struct_id

    if kernel_btf() is None:
        pytest.skip("no kernel BTF")
    task = struct_id("struct task_struct")
    pid = member(task, "pid")
    assert pid is not None
    out = trace('BEGIN { printf("%d %d %d %d %d %s %d\\n", sizeof(struct task_struct) > 1000, sizeof(uint32), '
                'offsetof(struct task_struct, pid), sizeof(int), sizeof(char *), strerror(2), '
                'cgroupid("/sys/fs/cgroup") > 0); exit(); }')
    assert out == f"Attaching 1 probe...\n1 4 {pid.offset} 4 8 No such file or directory 1\n\n\n"


def test_buf_and_percent_r(workload: tuple[str, str]) -> None:
    binary, d = workload
    out = trace('tracepoint:syscalls:sys_enter_write /pid == cpid/ { printf("%r|\\n", buf(args->buf, 3)); } '
                'BEGIN { @b = buf(curtask + offsetof(struct task_struct, comm), 3); '
                '@z = buf(0, 2); }', [binary, d])
    comm = open("/proc/self/comm").read()[:3].replace("\t", "\\x09")
    assert out == "Attaching 2 probes...\n" + "xxx|\n" * 5 + f"\n\n@b: {comm}\n@z: \\x00\\x00\n"


def test_cli_dump_prints_the_generated_ebpf() -> None:
    proc = cli("-d", "-e", "BEGIN { @x[pid] = count(); }")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "p0_0: BEGIN" and "call 14" in proc.stdout and lines[-2:] == ["exit", ""]


def test_lost_events_are_reported() -> None:
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import Child, TraceRun

    # a one-page ring holds 170 records of 24 bytes (8 header + id + value): the other 830 of 1000 are lost
    child = Child(["true"])
    try:
        script = 'BEGIN { $i = 0; while ($i < 1000) { printf("%d\\n", $i); $i++; } }'
        out = io.StringIO()
        TraceRun(compile_script(script, cpid=child.pid, ring_size=4096), out).run(child)
    finally:
        child.kill()
    assert out.getvalue() == ("Attaching 1 probe...\n" + "".join(f"{i}\n" for i in range(170))
                              + "Lost 830 events\n\n\n")
