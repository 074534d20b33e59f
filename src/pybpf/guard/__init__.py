"""pybpf.guard: Tetragon-style runtime security — process events, TracingPolicies enforced in the kernel.

    from pybpf.guard import Guard, load_policy_files
    with Guard(load_policy_files(["policy.yaml"])) as guard:
        for event in guard.poll(1.0): print(event)   # Tetragon's JSON layout, as dicts
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf._lazy import lazy_exports

if TYPE_CHECKING:
    from pybpf.guard.output import to_compact, to_json
    from pybpf.guard.policy import PolicyError, TracingPolicy, load_policy_files, parse_policies
    from pybpf.guard.runner import Guard, GuardMetrics

_EXPORTS = {
    "Guard": "runner", "GuardMetrics": "runner", "PolicyError": "policy", "TracingPolicy": "policy",
    "load_policy_files": "policy", "parse_policies": "policy", "to_compact": "output", "to_json": "output",
}
__all__ = ["Guard", "GuardMetrics", "PolicyError", "TracingPolicy", "load_policy_files", "parse_policies",
           "to_compact", "to_json"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
