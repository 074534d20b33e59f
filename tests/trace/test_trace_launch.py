"""The fast start of a cached script: launch images, modules read ahead, and the cache entries that hold them."""

from __future__ import annotations

import io
import marshal
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.trace import cache, launch
from pybpf.trace.compiler import compile_script
from pybpf.trace.preload import read_ahead

SCRIPT = 'tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[comm] = count(); printf("%d\\n", cpid); }'
WORKLOAD_C = Path(__file__).parent / "data" / "workload.c"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_image_is_plain_data_with_every_map_program_and_tracepoint() -> None:
    compiled = compile_script(SCRIPT, cpid=4321)
    image = launch.image_of(compiled)
    assert image is not None and launch.valid(image)
    assert marshal.loads(marshal.dumps(image)) == image  # only marshal-able values
    _, maps, programs, attach, start, count = image
    assert [m[0] for m in maps] == [name.encode()[:15] for name in compiled.spec.maps]
    assert maps[start][0] == b"start_ns"
    assert len(programs) == len(compiled.spec.programs) == 1
    code = programs[0][6]
    sites = programs[0][8]
    assert len(sites) == 2 and all(int.from_bytes(code[o + 4:o + 8], "little") == 4321 for o, _ in sites)
    assert len(attach) == 1 and attach[0][1] == "tracepoint" and attach[0][2].endswith("/events/syscalls/sys_enter_getppid/id")
    assert count == compiled.attach_count == 1


@pytest.mark.parametrize("script", [
    'BEGIN { printf("hi\\n"); } tracepoint:syscalls:sys_enter_getppid { @ = count(); }',  # BEGIN prints first
    "software:cpu-clock:1000000 { @ = count(); }",  # attach kinds the launcher does not do
    "rawtracepoint:sched_switch { @ = count(); }",
    "interval:s:1 { exit(); }",
])
def test_scripts_the_launcher_does_not_do_have_no_image(script: str) -> None:
    try:
        compiled = compile_script(script)
    except Exception as exc:  # noqa: BLE001 - a kernel without that event
        pytest.skip(f"cannot compile {script!r} here: {exc}")
    assert launch.image_of(compiled) is None


def test_attaching_line_like_bpftrace() -> None:
    assert launch.attaching_line(1, False) == "Attaching 1 probe...\n"
    assert launch.attaching_line(3, False) == "Attaching 3 probes...\n"
    assert launch.attaching_line(2, True) == '{"type": "attached_probes", "data": {"probes": 2}}\n'


def test_perf_event_attach_type_is_the_uapi_value() -> None:
    from pybpf.abi import AttachType

    assert launch.BPF_PERF_EVENT == AttachType.PERF_EVENT


def test_entry_holds_image_and_recorded_modules(cache_dir: Path) -> None:
    entry = cache.cache_entry(SCRIPT, [], unsafe=False, has_child=True)
    assert entry is not None
    compiled = compile_script(SCRIPT, cpid=1)
    cache.store(entry, compiled)
    hit = cache.read(entry)
    assert hit is not None and hit.image == launch.image_of(compiled) and hit.modules is None
    cache.remember_modules(entry, hit, ["json", "pybpf.trace.output"])
    again = cache.read(entry)
    assert again is not None and again.modules == ("json", "pybpf.trace.output")
    assert again.pickled == hit.pickled
    loaded = cache.unpickle(again, 77)
    assert loaded is not None and loaded.program.cpid == 77


def test_damaged_entries_are_misses(cache_dir: Path) -> None:
    entry = cache.cache_entry(SCRIPT, [], unsafe=False, has_child=True)
    assert entry is not None
    cache.store(entry, compile_script(SCRIPT, cpid=1))
    good = Path(entry.path).read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    for damaged in (good[:len(good) // 2], bytes(flipped), b"", b"\0\0\0\0", good[:4] + b"x" + good[5:]):
        Path(entry.path).write_bytes(damaged)
        assert cache.read(entry) is None
        assert cache.load(entry, 1) is None
    Path(entry.path).write_bytes(good)
    assert cache.read(entry) is not None
    cache.remove(entry)
    assert not os.path.exists(entry.path)
    cache.remove(entry)  # already gone: not an error


def test_key_changes_with_pybpf_version_and_kernel_btf(cache_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import pybpf

    btf = tmp_path / "vmlinux"
    btf.write_bytes(b"BTF one")
    monkeypatch.setattr(cache, "VMLINUX_BTF", str(btf))
    first = cache.cache_entry(SCRIPT, [], unsafe=False, has_child=True)
    assert first == cache.cache_entry(SCRIPT, [], unsafe=False, has_child=True)
    btf.write_bytes(b"BTF two, another build")
    second = cache.cache_entry(SCRIPT, [], unsafe=False, has_child=True)
    assert second != first
    monkeypatch.setattr(pybpf, "__version__", "0.0.0-other")
    third = cache.cache_entry(SCRIPT, [], unsafe=False, has_child=True)
    assert third != second and third != first
    assert first is not None and second is not None
    cache.store(first, compile_script(SCRIPT, cpid=1))
    assert cache.read(cache.CacheEntry(first.path, second.material)) is None  # same file, other key: a miss


def test_modules_read_ahead_are_served_without_their_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "tstart_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("VALUE = 1\n")
    (pkg / "leaf.py").write_text("from tstart_pkg import VALUE\nDOUBLE = VALUE * 2\n")
    (tmp_path / "tstart_later.py").write_text("LATER = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ahead = read_ahead(["tstart_pkg.leaf", "tstart_pkg", "no_such_module_tstart"])  # any order
    try:
        shutil.rmtree(pkg)  # from now on only the code read ahead can provide them
        import tstart_pkg.leaf

        assert tstart_pkg.leaf.DOUBLE == 2
        assert tstart_pkg.leaf.__file__ == str(pkg / "leaf.py")
        assert tstart_pkg.__path__ == [str(pkg)]
        import tstart_later  # not read ahead: imported the usual way

        assert tstart_later.LATER == 3
        assert ahead.specs == {}
    finally:
        ahead.close()
        for name in ("tstart_pkg", "tstart_pkg.leaf", "tstart_later"):
            sys.modules.pop(name, None)
    assert ahead not in sys.meta_path


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the workload")
    base = tmp_path_factory.mktemp("launch")
    binary = base / "workload"
    proc = subprocess.run(["gcc", "-O1", "-o", str(binary), str(WORKLOAD_C)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot build the workload: {proc.stderr.decode()[-200:]}")
    scratch = base / "files"
    scratch.mkdir()
    return str(binary), str(scratch)


@pytest.mark.kernel
def test_launched_image_runs_like_the_engine(workload: tuple[str, str]) -> None:
    from pybpf.trace.runtime import Child, TraceRun

    binary, d = workload
    script = ('tracepoint:syscalls:sys_enter_openat /pid == cpid/ { printf("%s\\n", str(args->filename)); '
              '@[comm] = count(); @n = sum(1); } tracepoint:syscalls:sys_enter_pread64 /pid == cpid/ '
              '{ @sizes = hist(args->count); } END { printf("end\\n"); } '
              f'uprobe:{binary}:traced_add {{ @calls[arg0, arg1] = count(); }} '
              f'uretprobe:{binary}:traced_add {{ @ret = sum(retval); }}')
    outputs = []
    for use_image in (False, True):
        child = Child([binary, d])
        try:
            compiled = compile_script(script, cpid=child.pid)
            out = io.StringIO()
            launched = None
            if use_image:
                image = launch.image_of(compiled)
                assert image is not None
                out.write(launch.attaching_line(launch.probe_count(image), False))
                launched = launch.launch(marshal.loads(marshal.dumps(image)), child.pid)
                assert launched is not None
                child.release()
            TraceRun(compiled, out).run(child, launched=launched, announced=use_image)
        finally:
            child.kill()
        outputs.append(out.getvalue())
    opened = "".join(f"{d}/wl_file_{i}\n" for i in range(5))
    assert outputs[0].startswith("Attaching 5 probes...\n") and opened in outputs[0]
    assert "end\n" in outputs[0] and "@sizes:" in outputs[0] and "\n@n: " in outputs[0]
    assert "@calls[6, 60]: 1\n" in outputs[0] and "@ret: 231\n" in outputs[0]
    assert outputs[1] == outputs[0]


@pytest.mark.kernel
def test_a_failing_launch_leaves_nothing_and_says_none() -> None:
    compiled = compile_script("tracepoint:syscalls:sys_enter_getppid { @ = count(); }")
    image = launch.image_of(compiled)
    assert image is not None
    fds = set(os.listdir("/proc/self/fd"))
    broken = (*image[:3], ((0, "tracepoint", "/nonexistent/tstart/id", 0, "tracepoint x/y"),), *image[4:])
    assert launch.launch(broken, 0) is None
    assert set(os.listdir("/proc/self/fd")) == fds  # maps and programs created before the failure are closed


@pytest.mark.kernel
def test_cached_runs_match_the_first_and_the_tracer_opens_nothing_once_attached(
        workload: tuple[str, str], tmp_path: Path) -> None:
    binary, d = workload
    env = dict(os.environ, PYBPF_CACHE_DIR=str(tmp_path / "cache"))
    script = ('tracepoint:syscalls:sys_enter_openat { @opens[pid] = count(); } '
              'tracepoint:syscalls:sys_enter_openat /pid == cpid/ { printf("%s\\n", str(args->filename)); }')
    outputs = []
    for run in range(3):  # compiled and cached; run from the cache, recording its modules; launched from the image
        proc = subprocess.Popen([sys.executable, "-m", "pybpf", "trace", "-e", script, "-c", f"{binary} {d}"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        if run == 2:  # launched: no openat by the tracer itself while the probes were attached (the engine's
            # path reads the next tracepoint's id between two attachments)
            assert proc.pid not in {int(n) for n in re.findall(r"^@opens\[(\d+)\]: \d+$", out, re.M)}
        outputs.append([line for line in out.splitlines() if not line.startswith("@opens[")])
    entries = list((tmp_path / "cache" / "trace").glob("*.entry"))
    assert len(entries) == 1
    hit = cache.read(cache.CacheEntry(str(entries[0]), marshal.loads(entries[0].read_bytes()[4:])[1]))
    assert hit is not None and hit.modules and "pybpf.trace.runtime" in hit.modules
    opened = [f"{d}/wl_file_{i}" for i in range(5)]
    assert outputs[0][0] == "Attaching 2 probes..." and [x for x in outputs[0] if "wl_file" in x] == opened
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]


@pytest.mark.kernel
def test_a_damaged_cache_entry_is_compiled_again(tmp_path: Path) -> None:
    env = dict(os.environ, PYBPF_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "pybpf", "trace", "-e",
           "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }", "-c", "/bin/true"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    (entry,) = (tmp_path / "cache" / "trace").glob("*.entry")
    entry.write_bytes(entry.read_bytes()[:100] + b"garbage")
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stderr == "" and again.stdout == first.stdout
    assert cache.read(cache.CacheEntry(str(entry), marshal.loads(entry.read_bytes()[4:])[1])) is not None


@pytest.mark.kernel
def test_an_image_that_does_not_load_here_falls_back_to_the_engine(tmp_path: Path) -> None:
    env = dict(os.environ, PYBPF_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "pybpf", "trace", "-e",
           "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }", "-c", "/bin/true"]
    outputs = [subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120) for _ in range(2)]
    (entry,) = (tmp_path / "cache" / "trace").glob("*.entry")
    fields = marshal.loads(entry.read_bytes()[4:])
    assert fields[5] is not None  # the second run recorded its modules: the next one launches the image
    image = fields[3]
    broken = (*image[:3], tuple((i, kind, "/nonexistent/tstart/id", 0, text) for i, kind, _, _, text in image[3]), *image[4:])
    cache._write(str(entry), (*fields[:3], broken, *fields[4:]))
    third = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and third.stderr == ""
    assert third.stdout == outputs[0].stdout == outputs[1].stdout
    assert third.stdout.count("Attaching 1 probe...") == 1
