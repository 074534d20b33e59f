"""Links, one module per attach kind (as cilium/ebpf's link/): adding a hook is adding a module.

`pybpf.kernel.links` re-exports every public name, so `from pybpf.kernel.links import attach_xdp` works.
"""
