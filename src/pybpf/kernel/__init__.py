"""pybpf.kernel: the Linux engine — bpf() in pure Python, maps, programs, links, ring/perf buffers, probes.

The most used names are re-exported here:

    from pybpf.kernel import load_collection, attach_xdp, attach_tracepoint, RingBuffer
    with load_collection(spec) as coll, attach_tracepoint(coll.programs["p"], "syscalls/sys_enter_openat"):
        for record in RingBuffer(coll.maps["events"]): ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf._lazy import lazy_exports

if TYPE_CHECKING:  # what mypy sees; at run time __getattr__ imports each name on first use
    from pybpf.kernel.features import Feature
    from pybpf.kernel.kernel_engine import KernelCollection, load_collection, set_globals
    from pybpf.kernel.links import (
        Link,
        attach_auto,
        attach_cgroup,
        attach_kprobe,
        attach_perf_event,
        attach_raw_tracepoint,
        attach_sampling,
        attach_socket,
        attach_tc,
        attach_tc_legacy,
        attach_tracepoint,
        attach_tracing,
        attach_uprobe,
        attach_usdt,
        attach_xdp,
        prog_attach,
        query_attached,
    )
    from pybpf.kernel.maps import KernelMap
    from pybpf.kernel.perfbuf import PerfBuffer
    from pybpf.kernel.pin import get_object, pin_object, unpin
    from pybpf.kernel.probe import bpf_permission_error
    from pybpf.kernel.programs import KernelProgram, load_program, test_run
    from pybpf.kernel.ringbuf import RingBuffer, btf_decoder
    from pybpf.kernel.verdict import KernelVerdict, kernel_verdict, kernel_verdicts

# name -> submodule; imported on first use so that `pybpf.kernel.probe` stays cheap and portable
_EXPORTS = {
    "KernelCollection": "kernel_engine", "load_collection": "kernel_engine", "set_globals": "kernel_engine",
    "Feature": "features",
    "Link": "links", "attach_auto": "links", "attach_cgroup": "links", "attach_kprobe": "links",
    "attach_perf_event": "links", "attach_raw_tracepoint": "links", "attach_sampling": "links",
    "attach_socket": "links", "attach_tc": "links", "attach_tc_legacy": "links", "attach_tracepoint": "links",
    "attach_tracing": "links", "attach_uprobe": "links", "attach_usdt": "links", "attach_xdp": "links", "prog_attach": "links",
    "query_attached": "links",
    "KernelMap": "maps", "PerfBuffer": "perfbuf", "get_object": "pin", "pin_object": "pin", "unpin": "pin",
    "bpf_permission_error": "probe", "KernelProgram": "programs", "load_program": "programs",
    "test_run": "programs", "RingBuffer": "ringbuf", "btf_decoder": "ringbuf",
    "KernelVerdict": "verdict", "kernel_verdict": "verdict", "kernel_verdicts": "verdict",
}
__all__ = [
    "Feature", "KernelCollection", "KernelMap", "KernelProgram", "KernelVerdict", "Link", "PerfBuffer",
    "RingBuffer", "attach_auto", "attach_cgroup", "attach_kprobe", "attach_perf_event",
    "attach_raw_tracepoint", "attach_sampling", "attach_socket", "attach_tc", "attach_tc_legacy",
    "attach_tracepoint", "attach_tracing", "attach_uprobe", "attach_usdt", "attach_xdp", "bpf_permission_error",
    "btf_decoder", "get_object", "kernel_verdict", "kernel_verdicts", "load_collection", "load_program",
    "pin_object", "prog_attach", "query_attached", "set_globals", "test_run", "unpin",
]  # == sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
