"""pybpf.maps (see DESIGN.md)."""
