"""User-space implementations of the kernel helpers that do not need the VM itself.

Importing this package registers them in `pybpf.vm.helper_registry.REGISTRY` (by kernel helper id):
maps (lookup/update/delete, push/pop/peek, lookup_percpu, spin_lock/unlock), time and randomness (ktime_*,
jiffies64, get_prandom_u32, get_smp_processor_id, get_numa_node_id), the current task
(pid/tgid, uid/gid, comm, cgroup id), printing (trace_printk, trace_vprintk, snprintf),
event output (perf_event_output, ringbuf output/reserve/submit/discard/query), strings and
checksums (strtol, strtoul, strncmp, csum_diff), dynptrs (from_mem, read, write, data and the
ring buffer's reserve/submit/discard_dynptr) and the probe_read family (bounds-checked
reads of the program's own memory). Return values follow the kernel: negative errnos as
unsigned 64-bit values. Helpers that drive the VM (tail_call, loop, for_each_map_elem) and the
packet helpers live in pybpf.vm.vm_helpers and pybpf.vm.packet_helpers.
"""

from __future__ import annotations

from pybpf.vm.helpers_impl import (
    dynptr,
    map_ops,
    output,
    printk,
    probe_read,
    strings,
    task,
    time_ops,
)

__all__ = ["dynptr", "map_ops", "output", "printk", "probe_read", "strings", "task", "time_ops"]
