"""Symbolisation pieces without the kernel: kallsyms, perf maps, ELF symbols, Python frames, output formats."""
# ruff: noqa: F811 - the fixtures come from profile_support (no conftest.py: see there)

from __future__ import annotations

import ctypes
import gzip
import json
import struct
import sys
import threading
from pathlib import Path

import pytest
from profile_support import BURN_BUILD_ID, burn  # noqa: F401

from pybpf.profile import elfsyms, python
from pybpf.profile.kallsyms import KernelSymbols
from pybpf.profile.model import Frame, MappingInfo, Profile, Sample
from pybpf.profile.pprof import dumps, messages
from pybpf.profile.procmaps import parse_maps
from pybpf.profile.report import folded, format_for, to_json
from pybpf.profile.symbolize import merge_python

KALLSYMS = """\
ffffffff81000000 T _stext
ffffffff81001000 T do_syscall_64
ffffffff81001200 t helper_local
ffffffff81002000 D some_data
ffffffffc0000000 t xfs_write\t[xfs]
"""


def test_kallsyms_function_and_module() -> None:
    k = KernelSymbols(KALLSYMS)
    assert k.lookup(0xFFFFFFFF81001010) == ("do_syscall_64", "")
    assert k.lookup(0xFFFFFFFF81001210) == ("helper_local", "")
    assert k.lookup(0xFFFFFFFFC0000010) == ("xfs_write", "xfs")
    assert k.lookup(0x1000) == ("[unknown]", "")


def test_perf_map_names_python_trampolines() -> None:
    pm = python.PerfMap("7f0000001000 40 py::Worker.run:/srv/app/worker.py\n7f0000002000 10 jitted_thing\nbad\n")
    assert pm.lookup(0x7F0000001010) == "worker:Worker.run"
    assert pm.lookup(0x7F0000002005) == "jitted_thing"
    assert pm.lookup(0x7F0000001040) is None


def test_module_names() -> None:
    assert python.module_name("/usr/lib/python3.11/json/decoder.py") == "decoder"
    assert python.module_name("<frozen runpy>") == "runpy"
    assert python.module_name("") == "?"


def test_parse_maps_keeps_executable_file_and_anonymous_mappings() -> None:
    text = ("00400000-00401000 r--p 00000000 fe:00 1 /usr/bin/app\n"
            "00401000-00402000 r-xp 00001000 fe:00 1 /usr/bin/app\n"
            "7f0000000000-7f0000001000 r-xp 00000000 00:00 0 \n")
    exec_maps, every = parse_maps(text)
    assert [(m.start, m.offset, m.path) for m in exec_maps] == [(0x401000, 0x1000, "/usr/bin/app"),
                                                                 (0x7F0000000000, 0, "")]
    assert len(every) == 3 and not exec_maps[1].is_file


def test_elf_symbols_of_a_compiled_workload(burn: Path) -> None:
    table = elfsyms.load(str(burn))
    assert table is not None and table.build_id == BURN_BUILD_ID
    names = set(table.names)
    assert {"main", "burn_one", "burn_two", "burn_three", "syscall_loop"} <= names
    start = table.starts[table.names.index("burn_two")]
    assert table.lookup(start) == "burn_two" and table.lookup(start + 1) == "burn_two"


def test_merge_python_replaces_evaluator_frames() -> None:
    native = [Frame("main"), Frame("Py_RunMain"), Frame("_PyEval_EvalFrameDefault"), Frame("PyObject_Call"),
              Frame("_PyEval_EvalFrameDefault"), Frame("list_append")]
    for f in native:
        object.__setattr__(f, "mapping", MappingInfo(0, 1, 0, "/usr/bin/python3"))
    outer = [Frame("app:<module>", kind="python"), Frame("app:main", kind="python")]
    inner = [Frame("app:callback", kind="python")]
    merged = merge_python(native, [inner, outer])
    assert [f.name for f in merged] == ["main", "Py_RunMain", "app:<module>", "app:main", "PyObject_Call",
                                        "app:callback", "list_append"]


def test_merge_python_without_frame_pointers_keeps_the_trusted_leaf() -> None:
    native = [Frame("[unknown]", "[anon]"), Frame("[unknown]", "[anon]"), Frame("_PyObject_Malloc")]
    merged = merge_python(native, [[Frame("app:main", kind="python")]])
    assert [f.name for f in merged] == ["app:main", "_PyObject_Malloc"]


@pytest.mark.skipif(sys.version_info[:2] not in python.LAYOUTS, reason="no frame layout for this Python")
def test_cpython_layout_matches_this_interpreter() -> None:
    """The offsets table read against the running interpreter's own structures (through ctypes)."""
    lay = python.LAYOUTS[sys.version_info[:2]]
    api = ctypes.pythonapi
    api.PyThreadState_Get.restype = ctypes.c_void_p

    def word(address: int) -> int:
        return struct.unpack("<Q", (ctypes.c_char * 8).from_address(address).raw)[0]

    runtime = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    tstate = api.PyThreadState_Get()
    assert word(runtime + lay.runtime_tstate_current) == tstate
    assert word(tstate + lay.tstate_native_tid) == threading.get_native_id()

    def inner() -> list[int]:
        # no Python call in between: the current frame is inner's own while these words are read
        u64 = ctypes.c_uint64.from_address
        frame = u64(u64(tstate + lay.tstate_cframe).value + lay.cframe_current_frame).value
        caller = u64(frame + lay.frame_previous).value
        return [u64(frame + lay.frame_code).value, u64(caller + lay.frame_code).value]

    assert inner() == [id(inner.__code__), id(sys._getframe().f_code)]
    code = test_cpython_layout_matches_this_interpreter.__code__
    assert word(id(code) + lay.code_qualname) == id(code.co_qualname)
    assert word(id(code) + lay.code_filename) == id(code.co_filename)


def test_code_names_read_from_process_memory() -> None:
    """CodeNames reads this very process's code objects through /proc/self/mem."""
    lay = python.LAYOUTS.get(sys.version_info[:2])
    if lay is None:
        pytest.skip("no frame layout for this Python")
    names = python.CodeNames(0, lay)
    names.pid = int(Path("/proc/self").resolve().name)

    def héllo_wörld() -> None: ...

    assert names.name(id(test_code_names_read_from_process_memory.__code__)) == \
        "test_symbols:test_code_names_read_from_process_memory"
    assert names.name(id(héllo_wörld.__code__) | 1) == \
        "test_symbols:test_code_names_read_from_process_memory.<locals>.héllo_wörld"


PROFILE = Profile([
    Sample(7, "app", (Frame("main", "app", address=0x401000, mapping=MappingInfo(0x400000, 0x500000, 0, "/bin/app",
                                                                                "abcd")),
                      Frame("work", "app", address=0x401100, mapping=MappingInfo(0x400000, 0x500000, 0, "/bin/app",
                                                                                 "abcd"))), 30),
    Sample(7, "app", (Frame("main", "app", address=0x401000),
                      Frame("do_syscall_64", "vmlinux", "kernel", 0xFFFFFFFF81000000)), 10),
    Sample(7, "app", (Frame("[unknown]", "libx.so", address=0x7F00),), 2),
], frequency=99, duration=1.0)


def test_folded_stacks() -> None:
    assert folded(PROFILE) == ("app;main;work 30\napp;main;do_syscall_64_[k] 10\n"
                               "app;[unknown in libx.so] 2\n")


def test_json_output() -> None:
    doc = json.loads(json.dumps(to_json(PROFILE)))
    assert doc["total"] == 42 and doc["frequency"] == 99
    assert doc["samples"][0]["frames"][1] == {"name": "work", "module": "app", "kind": "user",
                                              "address": 0x401100, "build_id": "abcd"}


def test_pprof_messages_decode() -> None:
    msg = messages()["Profile"]()
    msg.ParseFromString(gzip.decompress(dumps(PROFILE)))
    strings = list(msg.string_table)
    assert strings[0] == ""
    assert [(strings[t.type], strings[t.unit]) for t in msg.sample_type] == [("samples", "count"),
                                                                             ("cpu", "nanoseconds")]
    assert msg.period == 1_000_000_000 // 99
    first = msg.sample[0]
    assert list(first.value) == [30, 30 * (1_000_000_000 // 99)]
    locations = {loc.id: loc for loc in msg.location}
    functions = {f.id: strings[f.name] for f in msg.function}
    assert [functions[locations[i].line[0].function_id] for i in first.location_id] == ["work", "main"]
    mapping = msg.mapping[0]
    assert (mapping.memory_start, strings[mapping.filename], strings[mapping.build_id]) == (0x400000, "/bin/app",
                                                                                            "abcd")


def test_format_from_extension() -> None:
    assert format_for("x.svg", None) == "svg" and format_for("x.pb.gz", None) == "pprof"
    assert format_for("x.txt", None) == "folded" and format_for("x.svg", "json") == "json"
