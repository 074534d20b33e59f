"""pybpf.hooks (see DESIGN.md)."""
