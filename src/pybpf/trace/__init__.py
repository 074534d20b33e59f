"""pybpf.trace (see DESIGN.md)."""
