"""pybpf.verifier (see DESIGN.md)."""
