"""pybpf.kernel (see DESIGN.md)."""
