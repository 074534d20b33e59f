"""pybpf xdptools: XDP packet tools — a multi-program dispatcher (`pybpf xdp`) and capture (`pybpf dump`)."""
