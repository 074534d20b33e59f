"""Current bpftrace language run in the kernel and `--dry-run` (scripts in the style of bpftrace's tools)."""

from __future__ import annotations

import io
import os
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
