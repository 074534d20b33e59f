"""Kernel programs: load, verifier errors with the kernel's log, test_run with data/ctx out, engine loading."""

from __future__ import annotations

import os

import pytest

from pybpf.abi import MapType, ProgramType, XdpAction
from pybpf.engines import Runtime
from pybpf.errors import KernelError, LoadError, VerifierError
from pybpf.isa.instruction import Instruction as I
from pybpf.kernel import info
from pybpf.kernel import programs as kprog
from pybpf.kernel.kernel_engine import load_collection
from pybpf.kernel.programs import load_program, parse_verifier_log
from pybpf.object.spec import CollectionSpec, MapReference, MapSpec, ProgramSpec

from .progs import EXIT, counter_collection, lddw, mov, packet, ret

pytestmark = pytest.mark.kernel


def test_xdp_test_run_returns_retval_and_data_out() -> None:
    with load_program(ProgramType.XDP, ret(XdpAction.TX), name="tx") as fd:
        pkt = packet(60)
        r = kprog.test_run(fd.fd, pkt)
        assert r.retval == XdpAction.TX and r.data_out == pkt


def test_xdp_program_rewrites_packet() -> None:
    # *(u8 *)(data + 0) = 0x42 after a bounds check against data_end.
    insns = [
        I(0x61, 2, 1, 0, 0),  # r2 = *(u32 *)(r1 + 0)  data
        I(0x61, 3, 1, 4, 0),  # r3 = *(u32 *)(r1 + 4)  data_end
        I(0xBF, 4, 2), I(0x07, 4, 0, 0, 1),  # r4 = data + 1
        I(0x2D, 4, 3, 1, 0),  # if r4 > r3 goto +1
        I(0x72, 2, 0, 0, 0x42),  # *(u8 *)(r2 + 0) = 0x42
        mov(0, XdpAction.PASS), EXIT,
    ]
    with load_program(ProgramType.XDP, insns, name="rewrite") as fd:
        pkt = packet(64)
        r = kprog.test_run(fd.fd, pkt, repeat=5)
        assert r.retval == XdpAction.PASS
        assert r.data_out == b"\x42" + pkt[1:]


def test_skb_program_with_ctx_out() -> None:
    # tc program on __sk_buff: skb->mark = 7; return skb->len.
    insns = [I(0x62, 1, 0, 8, 7), I(0x61, 0, 1, 0, 0), EXIT]
    with load_program(ProgramType.SCHED_CLS, insns, name="len") as fd:
        ctx = bytes(192)
        r = kprog.test_run(fd.fd, packet(100), ctx=ctx)
        assert r.retval == 100
        assert r.ctx_out is not None and int.from_bytes(r.ctx_out[8:12], "little") == 7


def test_verifier_error_carries_log_reason_and_insn() -> None:
    with pytest.raises(VerifierError) as exc:
        load_program(ProgramType.XDP, [mov(1, 0), EXIT], name="noret")
    e = exc.value
    assert e.reason == "R0 !read_ok" and e.insn == 1
    assert "(95) exit" in e.log


def test_verifier_error_out_of_range_jump() -> None:
    with pytest.raises(VerifierError) as exc:
        load_program(ProgramType.XDP, [mov(0, 0), I(0x05, 0, 0, 5, 0), EXIT], name="jmp")
    assert exc.value.reason.startswith("jump out of range from insn 1") and exc.value.insn == 1


def test_parse_verifier_log_skips_trailer() -> None:
    log = "0: R1=ctx() R10=fp0\n0: (b7) r0 = 0\n1: (79) r2 = *(u64 *)(r0 +0)\nR0 invalid mem access 'scalar'\n" \
          "processed 2 insns (limit 1000000) max_states_per_insn 0\n"
    assert parse_verifier_log(log) == ("R0 invalid mem access 'scalar'", 1)


def test_unsupported_test_run_is_clear() -> None:
    with load_program(ProgramType.TRACEPOINT, ret(0), name="tp") as fd:
        with pytest.raises(KernelError) as exc:
            kprog.test_run(fd.fd, ctx=bytes(64))
        assert "not supported" in str(exc.value)


def test_load_collection_counts_and_reports_info() -> None:
    with load_collection(counter_collection()) as coll:
        prog = coll.programs["count"]
        for _ in range(3):
            assert prog.run(packet()).retval == XdpAction.PASS
        assert prog.run(packet(), repeat=10).retval == XdpAction.PASS
        assert coll.maps["counts"][0] == (13).to_bytes(8, "little")
        pinfo = info.prog_info(prog.fd)
        assert pinfo.type == ProgramType.XDP and pinfo.name == "count"
        assert info.map_info(coll.maps["counts"].fd).id in pinfo.map_ids


def test_runtime_kernel_engine() -> None:
    with Runtime("kernel", verify=False).load(counter_collection(retval=1)) as coll:
        assert coll.engine == "kernel"
        assert coll.programs["count"].run(packet()).retval == XdpAction.DROP


def test_global_data_value_reference_and_rodata_freeze() -> None:
    # r0 = *(u32 *)(&.rodata + 4) -- a BPF_PSEUDO_MAP_VALUE reference with an offset
    insns = (lddw(1), I(0x61, 0, 1, 0, 0), EXIT)
    prog = ProgramSpec(name="glob", instructions=insns, type=ProgramType.XDP,
                       map_references=(MapReference(pc=0, map_name=".rodata", kind="value", offset=4),))
    rodata = MapSpec(name=".rodata", type=MapType.ARRAY, key_size=4, value_size=8, max_entries=1,
                     contents=((bytes(4), (7).to_bytes(4, "little") + (99).to_bytes(4, "little")),), frozen=True)
    with load_collection(CollectionSpec(programs={"glob": prog}, maps={".rodata": rodata})) as coll:
        assert coll.programs["glob"].run(packet()).retval == 99
        with pytest.raises(Exception):  # noqa: B017 - frozen: EPERM
            coll.maps[".rodata"][0] = 1


def test_unknown_map_reference_is_load_error() -> None:
    spec = CollectionSpec(programs={"count": counter_collection().programs["count"]}, maps={})
    with pytest.raises(LoadError):
        load_collection(spec)


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _cycles(n: int) -> None:
    spec = counter_collection()
    before = _fd_count()
    for i in range(n):
        coll = load_collection(spec)
        if i % 3 == 0:
            coll.close()
        elif i % 3 == 1:
            with coll:
                pass
        else:
            del coll  # garbage collection closes the fds
    assert _fd_count() == before


def test_no_fd_leak_over_load_close_cycles() -> None:
    _cycles(2000)


@pytest.mark.slow
def test_no_fd_leak_over_10000_cycles() -> None:
    _cycles(10000)


def test_no_fd_leak_with_links_and_event_readers() -> None:
    import gc

    from pybpf.abi import MapType
    from pybpf.kernel.links import attach_tracepoint
    from pybpf.kernel.perfbuf import PerfBuffer
    from pybpf.kernel.ringbuf import RingBuffer

    from .progs import counter_map, pid_counter_program

    prog = pid_counter_program("tp", ProgramType.TRACEPOINT, os.getpid())
    spec = CollectionSpec(programs={"tp": prog}, maps={
        "counts": counter_map(),
        "ring": MapSpec(name="ring", type=MapType.RINGBUF, key_size=0, value_size=0, max_entries=4096),
        "perf": MapSpec(name="perf", type=MapType.PERF_EVENT_ARRAY, key_size=4, value_size=4, max_entries=0)})
    before = _fd_count()
    for i in range(30):
        coll = load_collection(spec)
        link = attach_tracepoint(coll.programs["tp"], "syscalls/sys_enter_getppid")
        rb = RingBuffer(coll.maps["ring"])
        pb = PerfBuffer(coll.maps["perf"], pages=1)
        os.getppid()
        if i % 2:
            for obj in (pb, rb, link, coll):
                obj.close()
        del coll, link, rb, pb
    gc.collect()
    assert _fd_count() == before


def test_context_only_test_runs() -> None:
    import struct

    # raw tracepoint: the context is the tracepoint's u64 arguments; return arg0 + arg1
    raw = ProgramSpec(name="rawsum", type=ProgramType.RAW_TRACEPOINT,
                      instructions=(I(0x79, 0, 1, 0, 0), I(0x79, 2, 1, 8, 0), I(0x0F, 0, 2), EXIT))
    with load_collection(raw) as coll:
        assert coll.programs["rawsum"].run(ctx=struct.pack("<QQ", 40, 2)).retval == 42
        with pytest.raises(KernelError):
            coll.programs["rawsum"].run(packet())  # no packet for these
    # syscall program: the kernel writes the context back; *(u64 *)ctx += 5, return 7
    sysprog = ProgramSpec(name="sys", type=ProgramType.SYSCALL, sleepable=True,
                          instructions=(I(0x79, 2, 1, 0, 0), I(0x07, 2, 0, 0, 5), I(0x7B, 1, 2, 0, 0), *ret(7)))
    with load_collection(sysprog) as coll:
        r = coll.programs["sys"].run(ctx=struct.pack("<Q", 10))
        assert r.retval == 7 and r.ctx_out == struct.pack("<Q", 15)


def test_no_fd_leak_on_failures() -> None:
    from pybpf.kernel.links import attach_raw_tracepoint, attach_tracepoint, attach_uprobe

    good = counter_collection()
    bad = CollectionSpec(programs={"count": ProgramSpec(name="count", instructions=(mov(1, 0), EXIT),
                                                        type=ProgramType.XDP)},
                         maps=dict(good.maps))
    tracing = CollectionSpec(programs={
        "tp": ProgramSpec(name="tp", instructions=tuple(ret(0)), type=ProgramType.TRACEPOINT),
        "raw": ProgramSpec(name="raw", instructions=tuple(ret(0)), type=ProgramType.RAW_TRACEPOINT),
        "up": ProgramSpec(name="up", instructions=tuple(ret(0)), type=ProgramType.KPROBE)})
    before = _fd_count()
    for _ in range(100):
        with pytest.raises(VerifierError):
            load_collection(bad)  # the map was created, then the program refused: all closed
        with load_collection(tracing) as coll:
            tp, raw, up = coll.programs["tp"], coll.programs["raw"], coll.programs["up"]
            with pytest.raises(LoadError):
                attach_tracepoint(tp, "syscalls/no_such_tracepoint")
            with pytest.raises(LoadError):
                attach_raw_tracepoint(raw, "no_such_raw_tracepoint")
            with pytest.raises(LoadError):
                attach_uprobe(up, "/bin/sh", "pybpf_no_such_symbol")
            with pytest.raises(LoadError) as exc:
                attach_tracepoint(raw, "syscalls/sys_enter_getppid")  # wrong program type
            assert "raw_tracepoint program; a tracepoint needs tracepoint" in str(exc.value)
    assert _fd_count() == before
