"""pybpf.helpers (see DESIGN.md)."""
