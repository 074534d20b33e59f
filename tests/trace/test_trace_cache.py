"""The compiled-script cache: a second run loads what the first stored, with the new cpid patched in; stale
or foreign entries are misses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybpf.trace import cache
from pybpf.trace.compiler import compile_script

SCRIPT = 'tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[comm] = count(); printf("%d\\n", cpid); }'


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_store_then_load_patches_cpid(cache_dir: Path) -> None:
    path = cache.cache_entry(SCRIPT, [], unsafe=False, has_child=True)
    assert path is not None and path.path.startswith(str(cache_dir))
    assert cache.load(path, 1234) is None  # nothing stored yet
    compiled = compile_script(SCRIPT, cpid=1111)
    cache.store(path, compiled)
    loaded = cache.load(path, 2222)
    assert loaded is not None and loaded.script is None
    fresh = compile_script(SCRIPT, cpid=2222)
    assert dict(loaded.spec.programs) == dict(fresh.spec.programs)  # the same code as a compilation for 2222
    assert dict(loaded.spec.maps) == dict(fresh.spec.maps)
    assert loaded.program.cpid == 2222 and len(loaded.program.cpid_sites) == 2
    assert [e.kind for e in loaded.program.events] == [e.kind for e in fresh.program.events]


def test_keys_differ_by_settings_and_bad_entries_are_misses(cache_dir: Path) -> None:
    a = cache.cache_entry(SCRIPT, [], unsafe=False, has_child=True)
    assert a != cache.cache_entry(SCRIPT, ["1"], unsafe=False, has_child=True)
    assert a != cache.cache_entry(SCRIPT, [], unsafe=True, has_child=True)
    assert a != cache.cache_entry(SCRIPT + " ", [], unsafe=False, has_child=True)
    assert cache.cache_entry('BEGIN { printf("%d", cgroupid("/sys/fs/cgroup")); }', [], unsafe=False,
                            has_child=False) is None
    assert a is not None
    os.makedirs(os.path.dirname(a.path), exist_ok=True)
    Path(a.path).write_bytes(b"not a pickle")
    assert cache.load(a, 1) is None
    b = cache.cache_entry("BEGIN { exit(); }", [], unsafe=False, has_child=False)
    assert b is not None
    cache.store(b, compile_script("BEGIN { exit(); }"))
    clash = cache.CacheEntry(b.path, a.material)  # another key's entry under the same file name: a miss
    assert cache.load(clash, 1) is None and cache.load(b, 1) is not None


def test_a_changed_probed_binary_invalidates_the_entry(cache_dir: Path, tmp_path: Path) -> None:
    import shutil

    from pybpf.kernel.uprobe import resolve_binary

    binary = tmp_path / "libc-copy.so"
    shutil.copy(resolve_binary("libc.so.6"), binary)
    script = f"uprobe:{binary}:getpid {{ @ = count(); }}"
    path = cache.cache_entry(script, [], unsafe=False, has_child=False)
    assert path is not None
    try:
        compiled = compile_script(script)
    except Exception as exc:  # noqa: BLE001 - a libc without a getpid symbol
        pytest.skip(f"cannot probe getpid in libc: {exc}")
    cache.store(path, compiled)
    assert cache.load(path, 0) is not None
    with open(binary, "ab") as f:
        f.write(b"\0")
    assert cache.load(path, 0) is None


@pytest.mark.kernel
def test_the_command_reuses_its_cache_with_each_runs_cpid(tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    env = dict(os.environ, PYBPF_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "pybpf", "trace", "-e", 'BEGIN { printf("cpid=%d\\n", cpid); }',
           "-c", "/bin/sh -c 'echo child=$$'"]
    for _ in range(2):
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120).stdout
        cpid, child = re.search(r"cpid=(\d+)", out), re.search(r"child=(\d+)", out)
        assert cpid is not None and child is not None, out
        assert cpid.group(1) == child.group(1)  # the pid of this run's command, also from the cache
        assert len(list((tmp_path / "cache" / "trace").glob("*.entry"))) == 1
