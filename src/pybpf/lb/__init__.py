"""pybpf lb: a Katran-style XDP load balancer (Maglev, connection table, IPIP) and its control plane."""

from pybpf.lb.config import LbConfig, LbConfigError, Real, Vip, parse
from pybpf.lb.config import load as load_config
from pybpf.lb.control import Balancer

__all__ = ["Balancer", "LbConfig", "LbConfigError", "Real", "Vip", "load_config", "parse"]
