"""Names and paths of the examples, shared by the example tests and their conftest."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_NAMES = ("xdp_firewall", "port_counter", "xdp_bounce", "tc_classifier", "ringbuf_events",
                 "payload_hash")
