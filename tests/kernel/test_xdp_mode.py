"""XDP attach modes: the default falls back to generic/skb mode when the driver refuses native XDP."""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pybpf.errors import KernelError
from pybpf.kernel import links
from pybpf.kernel.link import xdp as xdp_link  # where attach_xdp looks its helpers up

ROOT = Path(__file__).resolve().parents[2]


FAKE_PROG: Any = object()  # stands in for a program: link_create is faked


def _fake_link_create(refuse: set[int]) -> Any:
    calls: list[int] = []

    def link_create(prog: Any, target_fd: int, attach_type: int, *, flags: int = 0,
                    description: str = "", **_: Any) -> Any:
        calls.append(flags)
        if flags in refuse:
            raise KernelError(f"cannot attach {description}: Operation not supported",
                              errno=errno.EOPNOTSUPP)
        return object()

    return link_create, calls


@pytest.fixture
def fake_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xdp_link, "ifindex", lambda interface: 7)
    monkeypatch.setattr(xdp_link, "expect_type", lambda *a, **k: None)
    monkeypatch.setattr(xdp_link, "BpfLink", lambda fd, description: description)


def test_default_mode_falls_back_to_skb(fake_kernel: None, monkeypatch: pytest.MonkeyPatch) -> None:
    link_create, calls = _fake_link_create(refuse={0})
    monkeypatch.setattr(xdp_link, "link_create", link_create)
    description = str(links.attach_xdp(FAKE_PROG, "eth9"))  # the faked BpfLink is its description
    assert calls == [0, links.XDP_FLAGS_SKB_MODE]
    assert "skb mode" in description and "refused native XDP" in description


def test_native_mode_refused_gives_a_hint(fake_kernel: None, monkeypatch: pytest.MonkeyPatch) -> None:
    link_create, calls = _fake_link_create(refuse={links.XDP_FLAGS_DRV_MODE})
    monkeypatch.setattr(xdp_link, "link_create", link_create)
    with pytest.raises(KernelError, match=r"--xdp eth9:skb"):
        links.attach_xdp(FAKE_PROG, "eth9", mode="native")
    assert calls == [links.XDP_FLAGS_DRV_MODE]


def test_skb_mode_is_not_retried(fake_kernel: None, monkeypatch: pytest.MonkeyPatch) -> None:
    link_create, calls = _fake_link_create(refuse={links.XDP_FLAGS_SKB_MODE})
    monkeypatch.setattr(xdp_link, "link_create", link_create)
    with pytest.raises(KernelError):
        links.attach_xdp(FAKE_PROG, "eth9", mode="skb")
    assert calls == [links.XDP_FLAGS_SKB_MODE]


@pytest.mark.kernel
@pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) is not installed")
def test_native_on_loopback_hints_at_skb(tmp_path: Path) -> None:
    """Loopback has no native XDP: `--xdp lo:native` fails with the hint, `--xdp lo` works."""
    from pybpf.toolchain import compile_c

    obj = compile_c(ROOT / "examples" / "xdp_firewall.c", tmp_path / "fw.o")
    ns = "pbfrontxm"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        base = ["ip", "netns", "exec", ns, sys.executable, "-m", "pybpf", "attach", str(obj),
                "--program", "xdp_firewall", "--duration", "0.2"]
        native = subprocess.run([*base, "--xdp", "lo:native"], capture_output=True, text=True,
                                timeout=60, check=False)
        assert native.returncode == 2
        assert "use generic mode (--xdp lo:skb)" in native.stderr
        default = subprocess.run([*base, "--xdp", "lo"], capture_output=True, text=True,
                                 timeout=60, check=False)
        assert default.returncode == 0, default.stderr
        assert "attached xdp_firewall (xdp on lo" in default.stderr
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
