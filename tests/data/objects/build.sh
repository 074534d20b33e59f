#!/bin/sh
# Rebuild the test objects from their C sources with the pip-installed zig (run from anywhere).
set -e
cd "$(dirname "$0")"
PY="${PYTHON:-../../../.venv/bin/python}"
for src in *.c; do
    "$PY" -m ziglang cc -target bpfel-freestanding -O2 -g -c "$src" -o "${src%.c}.o"
done
