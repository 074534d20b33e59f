"""pybpf.btf (see DESIGN.md)."""
