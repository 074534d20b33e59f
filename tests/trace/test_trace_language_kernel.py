"""Current bpftrace language run in the kernel and `--dry-run` (scripts in the style of bpftrace's tools)."""

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


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "pybpf", "trace", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def run(script: str, params: list[str] | None = None) -> str:
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import TraceRun

    out = io.StringIO()
    TraceRun(compile_script(script, params=params or []), out).run()
    return out.getvalue()


LANGUAGE = """
config = {
  missing_probes = ignore;
}
let @seen = lruhash(128);
macro add_one(x) { x + 1 }
macro bump($v, @m) {
  $v += 1;
  @m[$v] = $v;
}
macro two() { add_one(add_one(0)) }
BEGIN {
  let $a: uint64;
  let $s = "hi";
  $a = add_one(41);
  bump($a, @seen);
  for $i : 0..5 { if ($i == 1) { continue; } if ($i == 4) { break; } @sum += $i; }
  $t = (1, 2);
  @k[$t] = 7;
  if has_key(@k, (1, 2)) { printf("has %d %d\\n", @k[1, 2], has_key(@k, (2, 1))); }
  if $a { printf("a=%d two=%d %s %c\\n", $a, two, $s, $s[1]); }
  printf("%d %d %d %d\\n", bswap((uint16)0x1234), bswap((uint32)1), true, false);
  $gone = delete(@k, $t);
  printf("deleted %d again %d depth %d\\n", $gone, delete(@k, $t), getopt("depth", 3));
  exit();
}
uprobe:/bin/sh:no_such_function_in_sh { }
"""


def test_language_constructs_run_in_the_kernel() -> None:
    out = run(LANGUAGE, ["--depth=9"])
    assert out == ("Attaching 1 probe...\n"
                   "has 7 0\n"
                   "a=43 two=2 hi i\n"
                   "13330 16777216 1 0\n"
                   "deleted 1 again 0 depth 9\n"
                   "\n\n"
                   "\n"  # @k: emptied by delete() (an empty map prints a blank line)
                   "@seen[43]: 43\n@sum: 5\n")


def test_ppid_and_pcomm_are_the_parent_process() -> None:
    proc = cli("-e", 'BEGIN { printf("%d %d %s\\n", pid, ppid, pcomm); exit(); }')
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.splitlines()[1]
    pid, ppid, pcomm = line.split()
    assert int(ppid) == os.getpid()
    with open(f"/proc/{os.getpid()}/comm") as f:
        assert pcomm == f.read().strip()[:15]
    assert int(pid) != os.getpid()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")
def test_username_names_the_uid_and_numaid_is_a_node() -> None:
    import pwd

    nobody = pwd.getpwuid(65534).pw_name if 65534 in {u.pw_uid for u in pwd.getpwall()} else "65534"
    child = f"{shutil.which('setpriv')} --reuid=65534 {sys.executable} -c 'import os; os.getppid()'"
    proc = cli("-e", 'tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { printf("%s %d %d\\n", username, uid, numaid); '
               '@users[username] = count(); exit(); }', "-c", child)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    name, uid, node = lines[1].split()
    assert (name, uid) == (nobody, "65534")
    nodes = Path("/sys/devices/system/node")
    assert node == "0" or (nodes / f"node{node}").is_dir()
    assert f"@users[{nobody}]: 1" in lines


def test_block_expressions_run_in_order() -> None:
    out = run('BEGIN { $y = 5; $x = { let $y = 2; @steps = count(); $y * 3 }; '
              'printf("%d %d %d %d\\n", $x, $y, { let $a = 20; $a + 1 }, 1 ? { 7 } : 2); exit(); }')
    # the block's $y is its own (the outer one stays 5); its statements ran once
    assert out == "Attaching 1 probe...\n6 5 21 7\n\n\n@steps: 1\n"


def test_lhist_labels_in_map_output() -> None:
    out = run("BEGIN { @l = lhist(1500, 0, 4096, 1024); exit(); }")
    assert out.endswith("@l: \n[1K, 2K)               1 |" + "@" * 52 + "|\n\n")


def test_dry_run_compiles_verifies_and_attaches_nothing(tmp_path: Path) -> None:
    # kprobes (refused by some kernels), a function this kernel lacks, tracepoints, macros and config:
    # all compiled, loaded for the verifier, nothing attached; a missing probe is a warning
    script = tmp_path / "tool.bt"
    script.write_text(
        "#define AF_INET 2\n"
        "macro family(sk) { sk.__sk_common.skc_family }\n"
        "kprobe:tcp_connect, kprobe:no_such_kernel_function_pybpf* {\n"
        "  let $daddr;\n"
        "  $sk = (struct sock *)arg0;\n"
        "  if (family($sk) == AF_INET) { $daddr = ntop($sk.__sk_common.skc_daddr); }\n"
        "  else { $daddr = ntop($sk.__sk_common.skc_v6_daddr.in6_u.u6_addr8); }\n"
        "  printf(\"%s %d %s\\n\", $daddr, bswap($sk.__sk_common.skc_dport), func);\n"
        "}\n"
        "tracepoint:sched:sched_switch { $ns = @q[args.next_pid]; if $ns { @h = hist(nsecs - $ns); } "
        "@q[args.prev_pid] = nsecs; }\n"
        "interval:1s { print(@h); clear(@h); }\n")
    proc = cli("--dry-run", str(script))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "WARNING: skipped kprobe:no_such_kernel_function_pybpf*" in proc.stderr
    assert "ERROR" not in proc.stderr
    bad = cli("--dry-run", "-e", "BEGIN { $x = nosuch(1); }")
    assert bad.returncode == 1 and "Unknown function: nosuch" in bad.stderr


def test_bitfields_and_fixed_size_arrays_of_kernel_structs() -> None:
    from pybpf.trace.structs import member, struct_id

    sid = struct_id("struct task_struct")
    bit = member(sid, "in_execve") if sid else None
    if bit is None or not bit.bit_size:
        pytest.skip("this kernel's task_struct has no in_execve bitfield")
    # in_execve is set while execve() runs (sched_process_exec fires inside it); comm is a char array and
    # mm->saved_auxv an array of unsigned long whose first entry is an AT_* tag (never 0 for a live process)
    proc = cli("-e", 'tracepoint:sched:sched_process_exec /pid == cpid/ { printf("%d %c %d\\n", curtask.in_execve, '
               'curtask.comm[0], curtask.mm.saved_auxv[0] > 0); }', "-c", "/bin/true")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Attaching 1 probe...\n1 t 1\n\n\n"


def test_list_verbose_prints_tracepoint_arguments() -> None:
    proc = cli("-lv", "tracepoint:syscalls:sys_enter_openat")
    assert proc.returncode == 0, proc.stderr
    # as bpftrace -lv prints them: the probe, then its format's fields (common_* left out)
    assert proc.stdout.startswith("tracepoint:syscalls:sys_enter_openat\n    int __syscall_nr\n    int dfd\n")
    assert "    const char * filename\n" in proc.stdout and "common_" not in proc.stdout
    if shutil.which("bpftrace") is not None:
        theirs = subprocess.run(["bpftrace", "-lv", "tracepoint:syscalls:sys_enter_openat"], capture_output=True,
                                text=True, timeout=60)
        if theirs.returncode == 0 and theirs.stdout:
            assert proc.stdout == theirs.stdout


def test_macaddr_of_a_byte_array() -> None:
    # the first six bytes of this process's comm (the name python was started as), as bpftrace prints a MAC
    proc = cli("-e", 'BEGIN { printf("%s\\n", macaddr(curtask.comm)); exit(); }')
    assert proc.returncode == 0, proc.stderr
    comm = os.path.basename(sys.executable).encode()[:15][:6].ljust(6, b"\0")
    assert proc.stdout == "Attaching 1 probe...\n" + ":".join(f"{b:02X}" for b in comm) + "\n\n\n"
