"""Kernel facts probed live (helper availability, context rules, kfunc calls), cached per kernel build, fallback elsewhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf import cachedir
from pybpf.abi import ProgramType
from pybpf.helpers import allowed, by_name
from pybpf.helpers import availability as avail

ROOT = Path(__file__).resolve().parents[2]


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cachedir.user_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("PYBPF_CACHE_DIR")
    assert cachedir.user_cache_dir() == tmp_path / "xdg" / "pybpf"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cachedir.user_cache_dir() == tmp_path / "home" / ".cache" / "pybpf"


def test_facts_are_keyed_by_kernel_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path))
    cachedir.write_kernel_facts("x.json", {"a": 1})
    assert cachedir.read_kernel_facts("x.json") == {"a": 1}
    path = cachedir.kernel_facts_path("x.json")
    assert cachedir.kernel_build() in str(path)
    # a file claiming another build (copied from another machine) is not trusted
    path.write_text(json.dumps({"kernel": "6.18.44-other+000000000000", "facts": {"a": 2}}))
    assert cachedir.read_kernel_facts("x.json") is None
    for junk in ("", "{", "[1, 2]", "\x00\xff"):
        path.write_text(junk)
        assert cachedir.read_kernel_facts("x.json") is None


def test_malformed_facts_fall_back() -> None:
    from pybpf.verifier import ctx_probed

    assert avail._from_facts({"probed": ["XDP"]}) is None
    assert avail._from_facts(None) is None
    assert ctx_probed.decode({"types": {"9": {"reads": [[0]]}}, "sock": {}}) is None


def test_fresh_process_without_cache_uses_the_fallback(tmp_path: Path) -> None:
    code = "from pybpf.helpers import availability as a; print(a.SOURCE)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYBPF_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.stdout.startswith("fallback table generated on")


@pytest.mark.kernel
def test_live_probe_is_what_a_fresh_process_reads(tmp_path: Path) -> None:
    code = ("from pybpf.engines import use_kernel_facts; assert use_kernel_facts() is None; "
            "from pybpf.helpers import availability as a; from pybpf.verifier import ctx_probed as c; "
            "print(a.SOURCE); print(c.SOURCE)")  # fmt: skip
    env = {"PYBPF_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert first.stdout.splitlines() == [
        f"probed on the running kernel ({cachedir.kernel_build()})",
        "probed on the running kernel",
    ]
    files = sorted(p.name for p in (tmp_path / "kernel" / cachedir.kernel_build()).iterdir())
    assert files == ["ctx.json", "helpers.json", "kfuncs.json"]
    # a later process reads the cache at import, without probing
    read = "from pybpf.helpers import availability as a; print(a.SOURCE)"
    second = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True, env=env)
    assert second.stdout.strip().startswith("probed on the running kernel")


SAMPLE = [("lwt_seg6_store_bytes", "LWT_SEG6LOCAL"), ("lwt_seg6_action", "LWT_SEG6LOCAL"),
          ("xdp_adjust_tail", "XDP"), ("skb_load_bytes", "XDP"), ("get_stackid", "TRACEPOINT"),
          ("sk_lookup_tcp", "CGROUP_SOCK_ADDR"), ("redirect_map", "SCHED_CLS")]  # fmt: skip


@pytest.mark.kernel
@pytest.mark.parametrize(("helper", "ptype"), SAMPLE)
def test_catalogue_in_use_matches_an_independent_probe(helper: str, ptype: str) -> None:
    from helpers.gen_availability import available, settings

    t = ProgramType[ptype]
    kernel = available(t, by_name(helper).id, settings()[t])
    assert kernel is not None
    assert allowed(by_name(helper).id, t) == kernel


@pytest.mark.kernel
def test_verify_cli_refuses_a_helper_this_kernel_refuses(tmp_path: Path) -> None:
    """`pybpf verify --type lwt_seg6local` on helper 74 gives the running kernel's verdict, whatever the build."""
    from helpers.gen_availability import available

    kernel_allows = available(ProgramType.LWT_SEG6LOCAL, 74, {})
    assert kernel_allows is not None
    src = tmp_path / "seg6.s"
    src.write_text("r2 = 0\nr3 = r10\nr3 += -8\n*(u64 *)(r10 - 8) = r2\nr4 = 8\ncall 74\nr0 = 0\nexit\n")
    out = subprocess.run([sys.executable, "-m", "pybpf", "verify", str(src), "--type",
                          "lwt_seg6local"], capture_output=True, text=True)  # fmt: skip
    if kernel_allows:
        assert out.returncode == 0, out.stderr + out.stdout
    else:
        assert out.returncode == 1, out.stderr + out.stdout
        assert "program of this type cannot use helper bpf_lwt_seg6_store_bytes#74" in out.stdout + out.stderr


@pytest.mark.kernel
def test_context_rules_match_an_independent_probe() -> None:
    """Sampled (type, offset, size) reads: the rules in use say what a raw BPF_PROG_LOAD says."""
    from helpers.kprobe_util import close, insn, prog_load
    from pybpf.verifier import ctx_probed

    assert ctx_probed.SOURCE == "probed on the running kernel"
    for ptype in (ProgramType.SK_SKB, ProgramType.CGROUP_SOCK, ProgramType.SOCK_OPS, ProgramType.SK_MSG):
        reads = ctx_probed.PROBED[int(ptype)][0]
        for off in range(0, 96, 4):
            fd, _, _ = prog_load(int(ptype), insn(0x61, 0, 1, off) + insn(0xB7, 0) + insn(0x95))
            close(fd)
            assert ((off, 4) in reads) == (fd >= 0), (ptype.name, off)


@pytest.mark.kernel
def test_kfunc_probe_matches_a_real_acquire_release() -> None:
    """Where the zero-argument probe says a type may call bpf_task_from_pid, a correct use loads, and not elsewhere."""
    from pybpf.isa.instruction import Instruction as I
    from pybpf.kernel import kfacts
    from pybpf.kernel.vmlinux import find_func

    facts = kfacts.probe_kfunc_types(["bpf_task_from_pid", "bpf_task_release"])
    assert facts["allowed"]["bpf_task_from_pid"] == facts["allowed"]["bpf_task_release"]  # one kfunc set
    acquire, release = find_func("bpf_task_from_pid"), find_func("bpf_task_release")
    # r1 = 1; r0 = bpf_task_from_pid(r1); if r0 == 0 goto out; r1 = r0; bpf_task_release(r1); out: r0 = 0
    code = (I(0xB7, 1, 0, 0, 1), I(0x85, 0, 2, 0, acquire), I(0x15, 0, 0, 2, 0), I(0xBF, 1, 0, 0, 0),
            I(0x85, 0, 2, 0, release), I(0xB7, 0, 0, 0, 0), I(0x95))
    for name in facts["probed"]:
        accepted, log = kfacts._load(ProgramType[name], code, log_level=1)
        assert accepted == (name in facts["allowed"]["bpf_task_from_pid"]), (name, log[-300:])
