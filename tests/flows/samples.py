"""Hand-made flows for the tests that need no kernel."""

from __future__ import annotations

from typing import Any

from pybpf.flows.flow import Flow

T0 = 1_764_921_600_123_456_789  # 2025-12-05T08:00:00.123456789Z


def flow(**kw: Any) -> Flow:
    base: dict[str, Any] = dict(time_ns=T0, interface="eth0", ifindex=2, direction="INGRESS", verdict="FORWARDED",
                                drop_reason=0, src_mac="02:00:00:00:00:01", dst_mac="02:00:00:00:00:02",
                                ip_version=4, source="10.0.0.1", destination="10.0.0.2", protocol=6,
                                source_port=40000, destination_port=80, tcp_flags=0x02, length=74, bytes=74,
                                node_name="node1")
    base.update(kw)
    return Flow(**base)
