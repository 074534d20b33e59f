"""pybpf.toolchain (see DESIGN.md)."""
