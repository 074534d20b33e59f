"""pybpf.profile: a Parca-style sampling profiler — eBPF stack sampling on every CPU, symbolised stacks
(native, kernel and Python frames), flame graphs, folded stacks, pprof and a terminal top view."""

from pybpf.profile.model import Frame, Profile, Sample
from pybpf.profile.session import ProfileOptions, record

__all__ = ["Frame", "Profile", "ProfileOptions", "Sample", "record"]
