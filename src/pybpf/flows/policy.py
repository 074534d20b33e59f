"""The L3/L4 policy: an ordered YAML list of allow/deny rules, checked and packed for the `policy` map.

    - {action: deny, direction: ingress, protocol: tcp, port: 9000}
    - {action: allow, cidr: 10.0.0.0/8}
    - {action: deny, protocol: udp, port: 1000-2000, direction: both}

`cidr` matches either address of the packet, `port` its destination port (a TCP or UDP packet
only); the first rule that matches decides, and a packet no rule matches is allowed.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pybpf.errors import LoadError

MAX_RULES = 64  # MAX_RULES in bpf/flows.c
RULE = struct.Struct("<16s16sHHBBBBBB2x")  # struct policy_rule
assert RULE.size == 44

PROTOCOLS = {"any": 0, "tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
DIRECTIONS = {"ingress": 1, "egress": 2, "both": 3}
ACTIONS = {"allow": 0, "deny": 1}
KEYS = {"action", "direction", "protocol", "cidr", "port"}


class PolicyError(LoadError):
    """A policy file that cannot be read or has a bad rule; the message names the rule."""


@dataclass(frozen=True)
class Rule:
    """One policy rule; `network` None matches any address, `ports` None any port."""

    action: str = "allow"
    direction: str = "both"
    protocol: str = "any"
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    ports: tuple[int, int] | None = None

    def pack(self) -> bytes:
        """The rule as the datapath's struct policy_rule."""
        if self.network is None:
            addr = mask = bytes(16)
            family = 0
        else:
            addr = self.network.network_address.packed.ljust(16, b"\0")
            mask = self.network.netmask.packed.ljust(16, b"\0")
            family = self.network.version
        lo, hi = self.ports if self.ports else (0, 65535)
        proto = PROTOCOLS[self.protocol]
        if proto == 1 and family == 6:
            proto = 58  # `icmp` with an IPv6 CIDR means ICMPv6
        return RULE.pack(addr, mask, lo, hi, 1, ACTIONS[self.action], DIRECTIONS[self.direction],
                         proto, family, 1 if self.ports else 0)

    def describe(self) -> str:
        parts = [self.action, self.direction, self.protocol]
        if self.network is not None:
            parts.append(str(self.network))
        if self.ports:
            lo, hi = self.ports
            parts.append(f"port {lo}" if lo == hi else f"ports {lo}-{hi}")
        return " ".join(parts)


def _ports(value: Any, where: str) -> tuple[int, int]:
    text = str(value).strip()
    lo_text, sep, hi_text = text.partition("-")
    try:
        lo = int(lo_text)
        hi = int(hi_text) if sep else lo
    except ValueError:
        raise PolicyError(f"{where}: port must be N or N-M, not {value!r}") from None
    if not (1 <= lo <= hi <= 65535):
        raise PolicyError(f"{where}: port range {value!r} is not within 1-65535 (low <= high)")
    return lo, hi


def _choice(rule: dict[str, Any], key: str, allowed: dict[str, int], default: str, where: str) -> str:
    value = str(rule.get(key, default)).lower()
    if value not in allowed:
        raise PolicyError(f"{where}: {key} must be one of {', '.join(allowed)}, not {rule[key]!r}")
    return value


def parse_rule(rule: Any, index: int) -> Rule:
    """One rule from its YAML mapping; index (from 1) names it in errors."""
    where = f"rule {index}"
    if not isinstance(rule, dict):
        raise PolicyError(f"{where}: expected a mapping like {{action: deny, port: 22}}, got {rule!r}")
    unknown = set(rule) - KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown key {sorted(map(str, unknown))[0]!r} "
                          f"(allowed: {', '.join(sorted(KEYS))})")
    if "action" not in rule:
        raise PolicyError(f"{where}: missing action (allow or deny)")
    action = _choice(rule, "action", ACTIONS, "allow", where)
    direction = _choice(rule, "direction", DIRECTIONS, "both", where)
    protocol = _choice(rule, "protocol", PROTOCOLS, "any", where)
    network = None
    if rule.get("cidr") is not None:
        try:
            network = ipaddress.ip_network(str(rule["cidr"]), strict=False)
        except ValueError:
            raise PolicyError(f"{where}: cidr must be an address or A.B.C.D/N, not {rule['cidr']!r}") from None
    ports = _ports(rule["port"], where) if rule.get("port") is not None else None
    if ports and protocol not in ("tcp", "udp", "any"):
        raise PolicyError(f"{where}: a port needs protocol tcp, udp or any, not {protocol}")
    return Rule(action, direction, protocol, network, ports)


def parse_policy(data: Any) -> list[Rule]:
    """Rules from the YAML document (a list; None or an empty list is no policy)."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise PolicyError("a policy is a YAML list of rules, e.g. - {action: deny, port: 22}")
    if len(data) > MAX_RULES:
        raise PolicyError(f"a policy has at most {MAX_RULES} rules, this one has {len(data)}")
    return [parse_rule(rule, i) for i, rule in enumerate(data, 1)]


def load_policy(path: str | Path) -> list[Rule]:
    """Read and check a policy file."""
    import yaml

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"policy {path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    try:
        return parse_policy(data)
    except PolicyError as exc:
        raise PolicyError(f"policy {path}: {exc}") from None
