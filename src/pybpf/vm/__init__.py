"""pybpf.vm (see DESIGN.md)."""
