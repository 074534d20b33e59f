"""examples/syscall_counter.c: a tracepoint program counting system calls per process."""
# ruff: noqa: F811 - the fixtures come from examples_support (no conftest.py: see there)

from __future__ import annotations

import dataclasses
import os
import struct

import pytest
from examples_support import example_objects, load  # noqa: F401

SYS_ENTER = struct.Struct("<HBBiq6Q")  # the raw_syscalls:sys_enter format, 64 bytes
NR_GETPID, NR_READ = 39, 0


def sys_enter(nr: int, *args: int) -> bytes:
    return SYS_ENTER.pack(1, 0, 0, os.getpid(), nr, *(list(args) + [0] * 6)[:6])


def counts(coll) -> dict[tuple[int, int], int]:
    return {struct.unpack("<II", k): int.from_bytes(v, "little")
            for k, v in coll.maps["syscalls"].items()}


def only_tgid(tgid: int):
    def transform(spec):
        rodata = spec.maps[".rodata"]
        (key, value), = rodata.contents
        maps = dict(spec.maps)
        maps[".rodata"] = dataclasses.replace(
            rodata, contents=((key, struct.pack("<I", tgid) + value[4:]),))
        return dataclasses.replace(spec, maps=maps)

    return transform


def skip_kernel(engine: str) -> None:
    if engine == "kernel":
        pytest.skip("BPF_PROG_TEST_RUN does not run tracepoint programs; "
                    "test_examples_live attaches this one to the real tracepoint")


def test_counts_per_syscall_number(engine: str, load) -> None:
    skip_kernel(engine)
    coll = load("syscall_counter")
    prog = coll.programs["count_syscalls"]
    for _ in range(3):
        assert prog.run(ctx=sys_enter(NR_GETPID)).retval == 0
    prog.run(ctx=sys_enter(NR_READ, 3, 0x1000, 64))
    # bpf_get_current_pid_tgid() in user space reports the calling process
    assert counts(coll) == {(os.getpid(), NR_GETPID): 3, (os.getpid(), NR_READ): 1}


def test_target_filter_in_rodata(engine: str, load) -> None:
    skip_kernel(engine)
    other = load("syscall_counter", only_tgid(os.getpid() + 1))
    other.programs["count_syscalls"].run(ctx=sys_enter(NR_GETPID))
    assert counts(other) == {}
    mine = load("syscall_counter", only_tgid(os.getpid()))
    mine.programs["count_syscalls"].run(ctx=sys_enter(NR_GETPID))
    assert counts(mine) == {(os.getpid(), NR_GETPID): 1}
