"""pybpf.flows: Hubble-style network flow observability — tc datapath, policy, filters, metrics, web UI.

    from pybpf.flows import Datapath, FlowFilter, load_policy
    with Datapath(["eth0"], policy=load_policy("policy.yaml")) as dp:
        for flow in dp.read(timeout=1.0):
            print(flow.to_hubble())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf._lazy import lazy_exports

if TYPE_CHECKING:
    from pybpf.flows.datapath import Datapath
    from pybpf.flows.filters import FlowFilter, FlowFilters
    from pybpf.flows.flow import Flow
    from pybpf.flows.observer import Observer
    from pybpf.flows.policy import PolicyError, Rule, load_policy, parse_policy

_EXPORTS = {
    "Datapath": "datapath", "Flow": "flow", "FlowFilter": "filters", "FlowFilters": "filters",
    "Observer": "observer", "PolicyError": "policy", "Rule": "policy", "load_policy": "policy",
    "parse_policy": "policy",
}
__all__ = [
    "Datapath", "Flow", "FlowFilter", "FlowFilters", "Observer", "PolicyError", "Rule", "load_policy",
    "parse_policy",
]  # == sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
