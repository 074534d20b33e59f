"""pybpf.profile: a Parca-style sampling profiler — eBPF stack sampling on every CPU, symbolised stacks
(native, kernel and Python frames), flame graphs, folded stacks, pprof and a terminal top view.

    from pybpf.profile import ProfileOptions, record
    profile = record(ProfileOptions(frequency=99, command=["./app"]))
    print(profile.folded().most_common(5))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf._lazy import lazy_exports

if TYPE_CHECKING:
    from pybpf.profile.model import Frame, Profile, Sample
    from pybpf.profile.session import ProfileOptions, record

_EXPORTS = {"Frame": "model", "Profile": "model", "Sample": "model", "ProfileOptions": "session",
            "record": "session"}
__all__ = ["Frame", "Profile", "ProfileOptions", "Sample", "record"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
