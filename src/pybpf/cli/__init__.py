"""The `pybpf` command: every verb is a module here with VERB and register(subparsers)."""
