"""pybpf.bench: the benchmark suite behind `pybpf bench` and `make bench` (programs ship as package data)."""
