"""`pybpf flows serve` on real traffic: /api/flows, the SSE stream, /metrics scraped by a real Prometheus,
and the web UI rendered by a real headless Chromium (screenshot in the test's tmp dir)."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .topology import A_IP, B_IP, Topology, ping, tcp_exchange, udp_send

pytestmark = pytest.mark.kernel

OPEN_PORT, DENIED_PORT, UDP_PORT = 9100, 9101, 7100
PROMETHEUS = "/usr/bin/prometheus"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, OSError, KeyError, IndexError, ValueError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def server(topo: Topology, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """serve on the veth of namespace b, with a policy, names, and the traffic of the scenario sent."""
    tmp = tmp_path_factory.mktemp("serve")
    policy = tmp / "policy.yaml"
    policy.write_text(f"- {{action: deny, direction: ingress, protocol: tcp, port: {DENIED_PORT}}}\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "pybpf", "flows", "serve", "--netns", topo.ns_b,
                             "--interface", topo.if_b, "--policy", str(policy), "--listen", f"127.0.0.1:{port}",
                             "--name", f"{A_IP}=client", "--name", f"{B_IP}=server"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is None and httpx.get(f"{base}/healthz").text == "ok", 30,
                 f"serve to answer ({(tmp / 'serve.log').read_text() if proc.poll() is not None else ''})")
        stream: list[dict[str, Any]] = []
        reader = threading.Thread(target=read_stream, args=(f"{base}/api/stream?protocol=udp", stream, 2),
                                  daemon=True)
        reader.start()
        wait_for(lambda: httpx.get(f"{base}/api/status").json()["subscribers"] == 1, 10, "the stream to subscribe")
        assert tcp_exchange(topo, OPEN_PORT, b"hi") == b"hi"
        assert tcp_exchange(topo, DENIED_PORT, timeout=0.4) is None
        assert udp_send(topo, UDP_PORT, 2) == 2
        assert ping(topo, 1) == 1
        reader.join(10)
        yield {"base": base, "stream": stream, "tmp": tmp, "proc": proc}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp / "serve.log").read_text()


def read_stream(url: str, out: list[dict[str, Any]], count: int) -> None:
    with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", url, timeout=10) as response:
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "flow":
                out.append(json.loads(line[6:]))
                if len(out) >= count:
                    return


def test_api_flows_and_stream(server: dict[str, Any]) -> None:
    base = server["base"]
    drops = httpx.get(f"{base}/api/flows", params={"verdict": "DROPPED"}).json()["flows"]
    assert drops, "no drop reported"
    for doc in drops:
        f = doc["flow"]
        assert (f["verdict"], f["drop_reason_desc"], f["traffic_direction"]) == ("DROPPED", "POLICY_DENIED", "INGRESS")
        assert f["l4"]["TCP"]["destination_port"] == DENIED_PORT and f["l4"]["TCP"]["flags"] == {"SYN": True}
        assert f["source_names"] == ["client"] and f["destination_names"] == ["server"]
    udp = httpx.get(f"{base}/api/flows", params={"protocol": "udp", "ip": A_IP}).json()["flows"]
    assert [(d["flow"]["IP"]["source"], d["flow"]["l4"]["UDP"]["destination_port"]) for d in udp] == [
        (A_IP, UDP_PORT)] * 2
    last = httpx.get(f"{base}/api/flows", params={"protocol": "udp", "last": "1"}).json()["flows"]
    assert last == udp[-1:]
    handshake = httpx.get(f"{base}/api/flows", params={"port": str(OPEN_PORT), "tcp_flags": "SYN"}).json()["flows"]
    assert [(d["flow"]["traffic_direction"], d["flow"]["is_reply"], sorted(d["flow"]["l4"]["TCP"]["flags"]))
            for d in handshake] == [("INGRESS", False, ["SYN"]), ("EGRESS", True, ["ACK", "SYN"])]
    bad = httpx.get(f"{base}/api/flows", params={"ip": "nonsense"})
    assert bad.status_code == 400 and "not an IP address" in bad.json()["error"]
    # the live stream delivered the UDP flows as they happened, in Hubble's layout
    assert [d["flow"]["l4"]["UDP"]["destination_port"] for d in server["stream"]] == [UDP_PORT, UDP_PORT]
    service_map = httpx.get(f"{base}/api/map").json()
    names = {n["ip"]: n["name"] for n in service_map["nodes"]}
    assert names[A_IP] == "client" and names[B_IP] == "server"
    (edge,) = [e for e in service_map["edges"] if (e["source"], e["target"]) == (A_IP, B_IP)]
    assert edge["verdict"] == "MIXED" and edge["dropped"] == len(drops)
    assert edge["ports"] == sorted([OPEN_PORT, DENIED_PORT, UDP_PORT])


@pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason=f"{PROMETHEUS} is absent (Debian package prometheus)")
def test_metrics_scraped_by_prometheus(server: dict[str, Any], tmp_path: Path) -> None:
    base = server["base"]
    drops = len(httpx.get(f"{base}/api/flows", params={"verdict": "DROPPED"}).json()["flows"])
    text = httpx.get(f"{base}/metrics").text
    assert f'hubble_drop_total{{protocol="TCP",reason="POLICY_DENIED"}} {float(drops)}' in text.splitlines()
    target = base.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                      f"  - job_name: pybpf-flows\n    static_configs:\n      - targets: ['{target}']\n")
    prom_port = free_port()
    prom = f"http://127.0.0.1:{prom_port}"
    log = open(tmp_path / "prometheus.log", "w")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=log, stderr=subprocess.STDOUT)

    def query(expr: str) -> list[dict[str, Any]]:
        body = httpx.get(f"{prom}/api/v1/query", params={"query": expr}).json()
        assert body["status"] == "success"
        return list(body["data"]["result"])

    try:
        wait_for(lambda: query('up{job="pybpf-flows"}') and query('up{job="pybpf-flows"}')[0]["value"][1] == "1",
                 60, "Prometheus to scrape the target")
        result = wait_for(lambda: query('hubble_drop_total{reason="POLICY_DENIED"}'), 20, "hubble_drop_total")
        assert [(r["metric"]["protocol"], float(r["value"][1])) for r in result] == [("TCP", float(drops))]
        processed = query('sum by (type, verdict) (hubble_flows_processed_total)')
        by_type = {(r["metric"]["type"], r["metric"]["verdict"]): float(r["value"][1]) for r in processed}
        assert by_type[("Drop", "DROPPED")] == float(drops) and by_type[("Trace", "FORWARDED")] > 0
        flags = {r["metric"]["flag"]: float(r["value"][1]) for r in query('hubble_tcp_flags_total{family="IPv4"}')}
        assert flags["SYN"] == 1.0 and flags["SYN-ACK"] == 1.0 and flags["FIN"] >= 2.0
        lost = query("hubble_lost_events_total")
        assert [(r["metric"]["source"], r["value"][1]) for r in lost] == [("perf_event_ring_buffer", "0")]
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                    reason="chromium and chromium-driver (Debian packages) are absent")
def test_web_ui_in_chromium(server: dict[str, Any], tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1200,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(server["base"] + "/")
        wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#map g.edge"))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#flows tbody tr")) >= 10)
        shot = tmp_path / "flows-ui.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # the map is redrawn every second: read it in one script, not element by element (stale elements)
        nodes, node_labels, edge_list = driver.execute_script("""
            const all = (sel) => [...document.querySelectorAll(sel)];
            return [all('#map g.node').map(n => [n.dataset.ip, n.dataset.name]),
                    all('#map g.node text').map(t => t.textContent),
                    all('#map g.edge').map(e => [e.dataset.source, e.dataset.target, e.dataset.verdict])];""")
        nodes = dict(nodes)
        assert nodes[A_IP] == "client" and nodes[B_IP] == "server"
        assert "client" in node_labels and "server" in node_labels
        edges = {(source, target): verdict for source, target, verdict in edge_list}
        assert edges[(A_IP, B_IP)] == "MIXED"
        colour = driver.execute_script(
            "return getComputedStyle(document.querySelector('#map g.edge[data-verdict=MIXED] line')).stroke")
        assert colour == "rgb(239, 108, 0)"
        rows = driver.find_elements(By.CSS_SELECTOR, "#flows tbody tr")
        verdicts = {r.find_element(By.CSS_SELECTOR, "td.verdict").text for r in rows}
        assert verdicts == {"FORWARDED", "DROPPED (POLICY_DENIED)"}
        # filter inputs: only the drops are left
        Select(driver.find_element(By.ID, "filter-verdict")).select_by_visible_text("DROPPED")
        driver.find_element(By.ID, "apply").click()
        wait.until(lambda d: {r.get_attribute("class") for r in d.find_elements(By.CSS_SELECTOR, "#flows tbody tr")}
                   == {"DROPPED"})
        dropped = driver.find_elements(By.CSS_SELECTOR, "#flows tbody tr")
        ports = {r.find_element(By.CSS_SELECTOR, "td.port").text for r in dropped}
        assert ports == {str(DENIED_PORT)}
        assert {r.find_element(By.CSS_SELECTOR, "td.source").text.split(" ")[0] for r in dropped} == {"client"}
        driver.save_screenshot(str(tmp_path / "flows-ui-dropped.png"))
    finally:
        driver.quit()
