"""pybpf.kernel: the Linux engine — bpf() in pure Python, maps, programs, links, ring/perf buffers, probes.

The most used names are re-exported here:

    from pybpf.kernel import load_collection, attach_xdp, attach_tracepoint, RingBuffer
    with load_collection(spec) as coll, attach_tracepoint(coll.programs["p"], "syscalls/sys_enter_openat"):
        for record in RingBuffer(coll.maps["events"]): ...
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> submodule; imported on first use so that `pybpf.kernel.probe` stays cheap and portable
_EXPORTS = {
    "KernelCollection": "engine", "load_collection": "engine", "set_globals": "engine",
    "Feature": "features",
    "Link": "links", "attach_auto": "links", "attach_cgroup": "links", "attach_kprobe": "links",
    "attach_perf_event": "links", "attach_raw_tracepoint": "links", "attach_sampling": "links",
    "attach_socket": "links", "attach_tc": "links", "attach_tc_legacy": "links", "attach_tracepoint": "links",
    "attach_tracing": "links", "attach_uprobe": "links", "attach_xdp": "links", "prog_attach": "links",
    "query_attached": "links",
    "KernelMap": "maps", "PerfBuffer": "perfbuf", "get_object": "pin", "pin_object": "pin", "unpin": "pin",
    "bpf_permission_error": "probe", "KernelProgram": "programs", "load_program": "programs",
    "test_run": "programs", "RingBuffer": "ringbuf", "btf_decoder": "ringbuf",
    "KernelVerdict": "verdict", "kernel_verdict": "verdict", "kernel_verdicts": "verdict",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pybpf.kernel' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pybpf.kernel.{module}"), name)
    globals()[name] = value
    return value
