"""The kernel as the judge of the loader on real-world objects: these ../shared/ebpf-samples objects load.

Each name below was loaded through pybpf.object and the kernel engine and accepted by this machine's
kernel (programs of unknown type, helpers this kernel forbids and lockdown-refused tracing programs
are left out). A loader bug in relocations, sub-program linking, maps or BTF makes them fail.
"""

from __future__ import annotations

import pytest

from pybpf.engines import Runtime
from pybpf.object import load_file
from testlib import shared_path

KERNEL_LOADABLE = """
cilium-examples/cgroup_skb_bpf_bpfel.o
cilium-examples/kprobe_bpf_bpfel.o
cilium-examples/kprobe_percpu_bpf_bpfel.o
cilium-examples/kprobepin_bpf_bpfel.o
cilium-examples/ringbuffer_bpf_bpfel.o
cilium-examples/tcprtt_sockops_bpf_bpfel.o
cilium-examples/tcx_bpf_bpfel.o
cilium-examples/tracepoint_in_c_bpf_bpfel.o
cilium-examples/uretprobe_bpf_x86_bpfel.o
cilium-examples/xdp_bpf_bpfel.o
new_linux/sock_flags_kern.o
new_linux/sockex1_kern.o
new_linux/sockex2_kern.o
new_linux/sockex3_kern.o
new_linux/trace_output_kern.o
new_linux/tracex1_kern.o
new_linux/tracex2_kern.o
new_linux/tracex3_kern.o
new_linux/tracex4_kern.o
new_linux/tracex6_kern.o
linux/cpustat_kern.o
linux/lathist_kern.o
linux/map_perf_test_kern.o
linux/offwaketime_kern.o
linux/sampleip_kern.o
linux/sock_flags_kern.o
linux/sockex1_kern.o
linux/sockex2_kern.o
linux/sockex3_kern.o
linux/spintest_kern.o
linux/syscall_tp_kern.o
linux/task_fd_query_kern.o
linux/tcp_basertt_kern.o
linux/tcp_bufs_kern.o
linux/tcp_clamp_kern.o
linux/tcp_cong_kern.o
linux/tcp_iw_kern.o
linux/tcp_rwnd_kern.o
linux/tcp_synrto_kern.o
linux/test_current_task_under_cgroup_kern.o
linux/test_map_in_map_kern.o
linux/test_overhead_kprobe_kern.o
linux/test_overhead_raw_tp_kern.o
linux/test_overhead_tp_kern.o
linux/trace_event_kern.o
linux/trace_output_kern.o
linux/tracex1_kern.o
linux/tracex2_kern.o
linux/tracex3_kern.o
linux/tracex4_kern.o
linux/tracex5_kern.o
linux/tracex6_kern.o
linux/xdp1_kern.o
linux/xdp2_kern.o
linux/xdp2skb_meta_kern.o
linux/xdp_adjust_tail_kern.o
linux/xdp_fwd_kern.o
linux/xdp_monitor_kern.o
linux/xdp_redirect_cpu_kern.o
linux/xdp_redirect_kern.o
linux/xdp_redirect_map_kern.o
linux/xdp_router_ipv4_kern.o
linux/xdp_rxq_info_kern.o
linux/xdp_sample_pkts_kern.o
linux/xdp_tx_iptunnel_kern.o
linux/xdpsock_kern.o
prototype-kernel/napi_monitor_kern.o
prototype-kernel/xdp_bench01_mem_access_cost_kern.o
prototype-kernel/xdp_bench02_drop_pattern_kern.o
prototype-kernel/xdp_ddos01_blacklist_kern.o
prototype-kernel/xdp_monitor_kern.o
prototype-kernel/xdp_redirect_cpu_kern.o
prototype-kernel/xdp_redirect_err_kern.o
prototype-kernel/xdp_tcpdump_kern.o
prototype-kernel/xdp_ttl_kern.o
prototype-kernel/xdp_vlan01_kern.o
suricata/xdp_filter.o
cilium-core/bpf_alignchecker.o
cilium-core/bpf_host.o
cilium-core/bpf_lxc.o
cilium-core/bpf_network.o
cilium-core/bpf_overlay.o
cilium-core/bpf_sock.o
cilium-core/bpf_wireguard.o
cilium-core/bpf_xdp.o
build/dependent_read.o
build/packet_access.o
build/packet_start_ok.o
""".split()


def _load(name: str) -> None:
    spec = load_file(shared_path("ebpf-samples", name))
    col = Runtime(engine="kernel", verify=False, pin_path=None).load(spec)  # leave /sys/fs/bpf alone
    try:
        assert set(col.programs) == set(spec.programs)
        assert set(col.maps) == set(spec.maps)
    finally:
        col.close()


@pytest.mark.kernel
@pytest.mark.parametrize("name", KERNEL_LOADABLE[::4])
def test_kernel_loads_sample(name: str) -> None:
    _load(name)


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("name", KERNEL_LOADABLE)
def test_kernel_loads_every_sample(name: str) -> None:
    _load(name)
