"""The HTML/SVG flame graph opened in headless chromium: frames laid out by their counts, zoom, search, tooltips."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pybpf.profile.flamegraph import render_html, render_svg
from pybpf.profile.model import Frame, Profile, Sample

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def stack(*names: str) -> tuple[Frame, ...]:
    return tuple(Frame(n, "libc.so.6" if n.startswith("__") else "app",
                       "kernel" if n.startswith("do_") else "user") for n in names)


PROFILE = Profile([
    Sample(1, "app", stack("__libc_start_call_main", "main", "burn_three"), 300),
    Sample(1, "app", stack("__libc_start_call_main", "main", "burn_two"), 200),
    Sample(1, "app", stack("__libc_start_call_main", "main", "burn_one"), 100),
    Sample(1, "app", stack("__libc_start_call_main", "main", "getppid", "do_syscall_64"), 400),
], frequency=99, duration=2.0)


def test_svg_is_well_formed_with_a_tooltip_per_frame() -> None:
    root = ET.fromstring(render_svg(PROFILE))
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in root.iter(f"{ns}title")]
    assert "burn_three — 300 samples (30.00%)" in titles
    assert "do_syscall_64_[k] — 400 samples (40.00%)" in titles
    assert "all — 1000 samples (100.00%)" in titles
    assert root.find(f"{ns}script") is not None


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed")
    selenium = pytest.importorskip("selenium")
    del selenium
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1300,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def widths(driver: WebDriver) -> dict[str, float]:
    script = ("var o = {}; window.flamegraph.frames.forEach(function (g) { if (g.style.display !== 'none')"
              " o[g.dataset.n] = g.querySelector('rect').getBoundingClientRect().width; }); return o;")
    return driver.execute_script(script)


def test_html_flame_graph_renders_zooms_and_searches(browser: WebDriver, tmp_path: Path) -> None:
    page = tmp_path / "flame.html"
    page.write_text(render_html(PROFILE))
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists()
    driver = browser
    driver.get(page.as_uri())
    w = widths(driver)
    full = w["all"]
    assert full > 1000
    assert w["burn_three"] == pytest.approx(0.3 * full, rel=0.01)
    assert w["burn_one"] == pytest.approx(0.1 * full, rel=0.01)
    assert w["do_syscall_64_[k]"] == pytest.approx(0.4 * full, rel=0.01)
    # names are drawn where they fit
    text = driver.execute_script(
        "return window.flamegraph.frames.filter(function (g) { return g.dataset.n === 'main'; })[0]"
        ".querySelector('text').textContent;")
    assert text == "main"
    # click to zoom: burn_two fills the width, its siblings are hidden
    assert driver.execute_script("return window.flamegraph.zoom('burn_two');")
    w = widths(driver)
    assert w["burn_two"] == pytest.approx(full, rel=0.01)
    assert "burn_three" not in w
    driver.execute_script("window.flamegraph.unzoom();")
    # search: burn_ functions cover 60% of the samples
    box = driver.find_element("id", "fg-search")
    box.send_keys("^burn_")
    matched = driver.find_element("id", "matched").text
    assert matched == "Matched: 60.00% (600 samples)"
    # the tooltip of a frame carries its count and share
    title = driver.execute_script(
        "return window.flamegraph.frames.filter(function (g) { return g.dataset.n === 'burn_two'; })[0]"
        ".querySelector('title').textContent;")
    assert title == "burn_two — 200 samples (20.00%)"
