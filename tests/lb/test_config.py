"""The YAML configuration: the example file, and one clear error per kind of mistake."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pybpf.lb.config import LbConfigError, load, parse

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lb.yaml"


def test_example_config() -> None:
    cfg = load(EXAMPLE)
    assert [str(v) for v in cfg.vips] == ["10.0.0.10:80/tcp", "[fd00::10]:53/udp"]
    assert [(str(r.address), r.weight) for r in cfg.vips[0].reals] == [
        ("10.200.0.2", 1), ("10.200.0.4", 2), ("10.200.0.5", 1)]
    assert cfg.outer_source4 == ipaddress.ip_network("172.16.0.0/16")
    assert cfg.outer_source6 == ipaddress.ip_network("fc00:1::/96")
    assert (cfg.ring_size, cfg.max_vips) == (65537, 8)
    assert len(cfg.real_addresses) == 5


VIP = {"address": "10.0.0.1", "port": 80, "protocol": "tcp", "reals": [{"address": "10.1.0.1"}]}


@pytest.mark.parametrize(("data", "message"), [
    ({"vips": [VIP, VIP]}, "listed twice"),
    ({"vips": [{**VIP, "protocol": "sctp"}]}, "use tcp or udp"),
    ({"vips": [{**VIP, "port": 0}]}, "port"),
    ({"vips": [{**VIP, "reals": [{"address": "10.1.0.1", "weight": 0}]}]}, "weight"),
    ({"vips": [{**VIP, "reals": [{"address": "nope"}]}]}, "not an IP address"),
    ({"vips": [VIP], "colour": "blue"}, "unknown configuration keys: colour"),
    ({"vips": [VIP, {**VIP, "port": 81}], "max_vips": 1}, "more than max_vips"),
    ({"vips": [VIP], "ring_size": 65535}, "not a prime"),
    ({"vips": [VIP], "outer_source": "fc00::/64"}, "needs an IPv4 prefix"),
    ({"vips": [VIP], "outer_source": "172.16.0.0/33"}, "not a CIDR"),
    ({"vips": [VIP], "gateway_mac": "02:00"}, "not a MAC address"),
    ({"vips": [{**VIP, "reals": [{"address": "10.1.0.1"}] * 2}]}, "listed twice"),
    ([1, 2], "must be a mapping"),
])
def test_mistakes(data: object, message: str) -> None:
    with pytest.raises(LbConfigError, match=message):
        parse(data)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(LbConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("vips: [\n")
    with pytest.raises(LbConfigError, match="not valid YAML"):
        load(bad)
