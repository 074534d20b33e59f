"""Policy files: rules checked and packed for the datapath's struct policy_rule; bad input is one clear error."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest

from pybpf.errors import BpfError
from pybpf.flows.policy import PolicyError, Rule, load_policy, parse_policy


def test_rules_in_order_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("- {action: deny, direction: ingress, protocol: tcp, port: 9001}\n"
                    "- {action: allow, cidr: 10.0.0.0/8}\n"
                    "- action: deny\n  protocol: udp\n  port: 1000-2000\n")
    rules = load_policy(path)
    assert rules == [
        Rule("deny", "ingress", "tcp", None, (9001, 9001)),
        Rule("allow", "both", "any", ipaddress.ip_network("10.0.0.0/8"), None),
        Rule("deny", "both", "udp", None, (1000, 2000)),
    ]


def test_packed_layout() -> None:
    packed = Rule("deny", "egress", "udp", ipaddress.ip_network("192.168.1.0/24"), (53, 53)).pack()
    addr, mask, lo, hi, valid, action, dirs, proto, family, has_port = struct.unpack("<16s16sHHBBBBBB2x", packed)
    assert addr == bytes([192, 168, 1, 0]) + bytes(12)
    assert mask == bytes([255, 255, 255, 0]) + bytes(12)
    assert (lo, hi, valid, action, dirs, proto, family, has_port) == (53, 53, 1, 1, 2, 17, 4, 1)
    any_rule = struct.unpack("<16s16sHHBBBBBB2x", Rule().pack())
    assert any_rule == (bytes(16), bytes(16), 0, 65535, 1, 0, 3, 0, 0, 0)
    v6 = Rule("deny", "both", "icmp", ipaddress.ip_network("fd00::/16")).pack()
    assert v6[:2] == b"\xfd\x00" and v6[16:18] == b"\xff\xff" and v6[39] == 58 and v6[40] == 6


@pytest.mark.parametrize("doc, message", [
    ({"action": "deny"}, "a policy is a YAML list"),
    ([{"port": 22}], "rule 1: missing action"),
    ([{"action": "drop"}], "rule 1: action must be one of allow, deny"),
    ([{"action": "deny", "direction": "up"}], "direction must be one of ingress, egress, both"),
    ([{"action": "deny", "protocol": "sctp"}], "protocol must be one of"),
    ([{"action": "deny", "cidr": "10.0.0.300/8"}], "cidr must be an address or A.B.C.D/N"),
    ([{"action": "deny", "port": "80-20"}], "port range '80-20' is not within 1-65535"),
    ([{"action": "deny", "port": "http"}], "port must be N or N-M"),
    ([{"action": "allow"}, {"action": "deny", "protocol": "icmp", "port": 1}], "rule 2: a port needs protocol"),
    ([{"action": "deny", "ports": 1}], "rule 1: unknown key 'ports'"),
    ([{"action": "allow"}] * 65, "at most 64 rules"),
])
def test_bad_rules(doc: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(doc)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {action: deny\n")
    with pytest.raises(BpfError, match=r"bad.yaml line \d+: not valid YAML"):
        load_policy(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_policy(empty) == []
