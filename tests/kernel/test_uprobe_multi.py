"""Uprobe-multi links: `SEC("uprobe.multi/PATH:PATTERN")` on every matching function of a binary built by the
test, entries counted per function address, returns in total, a pid filter, and clear errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pybpf.engines import Runtime
from pybpf.errors import LoadError
from pybpf.kernel.link import uprobe_multi
from pybpf.kernel.link.base import BpfLink
from pybpf.kernel.links import attach_auto
from pybpf.object import load_file
from pybpf.toolchain import compile_c, zig_available
from testlib import kernel_program, scalar, zig_x86_64_freestanding

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(not zig_available(), reason="ziglang is not installed (pip install ziglang)"),
              pytest.mark.skipif(os.uname().machine != "x86_64", reason="the target is freestanding x86-64"),
              pytest.mark.skipif(not uprobe_multi.uprobe_multi_supported(),
                                 reason="this kernel has no uprobe-multi links (Linux 6.6+)")]

DATA = Path(__file__).parent / "data"
BPF_LINK_TYPE_UPROBE_MULTI = 12  # include/uapi/linux/bpf.h
EXIT_STATUS = (1 + 2 + 3) + (0 + 3) + (-1 + 0 + 1 + 2 + 3)  # what umulti_target.c computes


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("umulti")
    app = zig_x86_64_freestanding(DATA / "umulti_target.c", out / "umulti_target")
    return app, Path(compile_c(DATA / "umulti.bpf.c", out / "umulti.o", defines=[f'APP="{app}"']))


def _nm(app: str) -> dict[str, int]:
    out = subprocess.run(["nm", app], capture_output=True, text=True, check=True).stdout
    return {line.split()[2]: int(line.split()[0], 16) for line in out.splitlines() if " T pb_" in line}


def test_function_offsets_match_nm(built: tuple[str, Path]) -> None:
    app, _ = built
    symbols = _nm(app)
    found = dict(uprobe_multi.function_offsets(app, "pb_fn_*"))
    assert sorted(found) == ["pb_fn_a", "pb_fn_b"]
    # a static executable: file offset = address - (first PT_LOAD's vaddr - offset); the two differ as nm says
    assert found["pb_fn_b"] - found["pb_fn_a"] == symbols["pb_fn_b"] - symbols["pb_fn_a"]
    with pytest.raises(LoadError, match=r"no function of .* matches 'nothing_\*'"):
        uprobe_multi.function_offsets(app, "nothing_*")


def test_sections_attach_to_every_matching_function(built: tuple[str, Path]) -> None:
    app, obj = built
    symbols = _nm(app)
    with Runtime("kernel", pin_path=None).load(load_file(obj)) as coll:
        links = [attach_auto(coll.programs[name]) for name in ("on_entry", "on_return")]
        try:
            # the kernel's view (bpf_link_info.uprobe_multi): one link each on the 2 functions, the second a return probe
            infos = [link.info() for link in links if isinstance(link, BpfLink)]
            assert [i.type for i in infos] == [BPF_LINK_TYPE_UPROBE_MULTI] * 2
            assert [i.extra[4] >> 32 for i in infos] == [2, 2]  # count
            assert [i.extra[5] & 0xFFFFFFFF for i in infos] == [0, uprobe_multi.BPF_F_UPROBE_MULTI_RETURN]  # flags
            assert subprocess.run([app], check=False).returncode == EXIT_STATUS
        finally:
            for link in links:
                link.close()
        entries = {int.from_bytes(k, "little"): int.from_bytes(scalar(v), "little") for k, v in coll.maps["entries"].items()}
        assert entries == {symbols["pb_fn_a"]: 3, symbols["pb_fn_b"]: 2}  # pb_other does not match
        assert int.from_bytes(scalar(coll.maps["returns"][0]), "little") == 5
        # detached: nothing more is counted
        assert subprocess.run([app], check=False).returncode == EXIT_STATUS
        assert int.from_bytes(scalar(coll.maps["returns"][0]), "little") == 5


def test_pid_filter_counts_only_that_process(built: tuple[str, Path]) -> None:
    app, obj = built
    with Runtime("kernel", pin_path=None).load(load_file(obj)) as coll:
        with attach_auto(coll.programs["on_return"], pid=os.getpid()):
            assert subprocess.run([app], check=False).returncode == EXIT_STATUS  # another process
        assert int.from_bytes(scalar(coll.maps["returns"][0]), "little") == 0


def test_bad_targets_are_clear_errors(built: tuple[str, Path]) -> None:
    app, obj = built
    with Runtime("kernel", pin_path=None).load(load_file(obj)) as coll:
        prog = kernel_program(coll, "on_entry")
        with pytest.raises(LoadError, match=r"no function of .* matches 'zz_\*'"):
            attach_auto(prog, f"{app}:zz_*")
        with pytest.raises(LoadError, match="expected uprobe.multi/BINARY:PATTERN"):
            attach_auto(prog, "no-colon")
        with pytest.raises(LoadError, match="1 cookies for 2 offsets"):
            uprobe_multi.attach_uprobe_multi(prog, app, offsets=[1, 2], cookies=[1])
