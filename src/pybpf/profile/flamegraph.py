"""Interactive flame graphs: a self-contained SVG (or an HTML page holding it) with zoom, search and tooltips.

Each frame is a <g class="frame"> with the sample range it covers (data-x, data-w), its depth and a
<title> tooltip "name — N samples (P%)"; a small embedded script zooms on click, resets on Escape
or "Reset zoom", and highlights frames matching a search (showing the share of samples matched).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from html import escape

from pybpf.profile.model import Profile

WIDTH = 1200
ROW = 16
PAD_TOP = 44
PAD_BOTTOM = 28


class _Node:
    __slots__ = ("name", "value", "children")

    def __init__(self, name: str) -> None:
        self.name, self.value = name, 0
        self.children: dict[str, _Node] = {}

    def child(self, name: str) -> _Node:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = _Node(name)
        return node


def build_tree(folded: Mapping[str, int]) -> _Node:
    """The call tree of folded stacks (`a;b;c` -> count), the root named "all"."""
    root = _Node("all")
    for stack, count in folded.items():
        root.value += count
        node = root
        for name in stack.split(";"):
            node = node.child(name)
            node.value += count
    return root


def _color(name: str) -> str:
    h = zlib.crc32(name.encode()) % 1000 / 1000
    if name.endswith("_[k]"):  # kernel: orange
        return f"rgb({220 + int(35 * h)},{120 + int(60 * h)},{30 + int(30 * h)})"
    if ":" in name and not name.startswith("["):  # Python module:function: blue-green
        return f"rgb({60 + int(50 * h)},{150 + int(60 * h)},{200 + int(40 * h)})"
    if name.startswith("[unknown]"):
        return "rgb(190,190,190)"
    return f"rgb({225 + int(30 * h)},{60 + int(130 * h)},{40 + int(40 * h)})"  # native: red-yellow


def _frames(root: _Node) -> tuple[list[str], int]:
    out: list[str] = []
    total = max(root.value, 1)
    max_depth = 0
    stack = [(root, 0, 0)]
    while stack:
        node, x, depth = stack.pop()
        max_depth = max(max_depth, depth)
        pct = 100.0 * node.value / total
        title = f"{node.name} — {node.value} samples ({pct:.2f}%)"
        out.append(f'<g class="frame" data-x="{x}" data-w="{node.value}" data-d="{depth}" '
                   f'data-n="{escape(node.name)}"><title>{escape(title)}</title>'
                   f'<rect height="{ROW - 1}" rx="2" fill="{_color(node.name)}"/><text dy="11"></text></g>')
        offset = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            stack.append((child, offset, depth + 1))
            offset += child.value
    return out, max_depth


_SCRIPT = r"""
(function () {
  var svg = document.getElementById('flamegraph');
  var W = +svg.getAttribute('data-width'), ROW = +svg.getAttribute('data-row');
  var H = +svg.getAttribute('data-height'), TOTAL = +svg.getAttribute('data-total');
  var frames = Array.prototype.slice.call(svg.querySelectorAll('g.frame'));
  var details = svg.querySelector('#details'), matched = svg.querySelector('#matched');
  var zoomed = null;
  function layout(x0, w0, d0) {
    frames.forEach(function (g) {
      var x = +g.dataset.x, w = +g.dataset.w, d = +g.dataset.d, r = g.querySelector('rect');
      var inside = x >= x0 && x + w <= x0 + w0 && d >= d0, above = d < d0 && x <= x0 && x + w >= x0 + w0;
      if (!inside && !above) { g.style.display = 'none'; return; }
      var px = above ? 0 : (x - x0) / w0 * (W - 20), pw = above ? W - 20 : w / w0 * (W - 20);
      if (pw < 0.3) { g.style.display = 'none'; return; }
      g.style.display = '';
      g.setAttribute('transform', 'translate(' + (10 + px) + ',' + (H - 28 - (d + 1) * ROW) + ')');
      r.setAttribute('width', pw);
      g.style.opacity = above ? 0.6 : 1;
      var t = g.querySelector('text'), name = g.dataset.n, fit = Math.floor((pw - 6) / 7);
      t.setAttribute('x', 3);
      t.textContent = fit < 3 ? '' : (name.length <= fit ? name : name.slice(0, fit - 2) + '..');
    });
  }
  function zoom(g) { zoomed = g; layout(+g.dataset.x, +g.dataset.w, +g.dataset.d);
    svg.querySelector('#unzoom').style.opacity = 1; }
  function unzoom() { zoomed = null; layout(0, TOTAL, 0); svg.querySelector('#unzoom').style.opacity = 0.3; }
  function search(term) {
    var re = null, ranges = [];
    if (term) { try { re = new RegExp(term); } catch (e) { re = null; } }
    frames.forEach(function (g) {
      var r = g.querySelector('rect'), hit = re && re.test(g.dataset.n) && +g.dataset.d > 0;
      if (!r.dataset.fill) r.dataset.fill = r.getAttribute('fill');
      r.setAttribute('fill', hit ? 'rgb(230,0,230)' : r.dataset.fill);
      if (hit) ranges.push([+g.dataset.x, +g.dataset.x + +g.dataset.w]);
    });
    ranges.sort(function (a, b) { return a[0] - b[0]; });
    var covered = 0, end = -1;
    ranges.forEach(function (r) { if (r[1] > end) { covered += r[1] - Math.max(r[0], end); end = r[1]; } });
    matched.textContent = re ? 'Matched: ' + (100 * covered / TOTAL).toFixed(2) + '% (' + covered + ' samples)' : '';
    svg.setAttribute('data-matched', re ? covered : -1);
    return covered;
  }
  frames.forEach(function (g) {
    g.addEventListener('click', function () { zoom(g); });
    g.addEventListener('mouseover', function () { details.textContent = g.querySelector('title').textContent; });
    g.addEventListener('mouseout', function () { details.textContent = ' '; });
  });
  svg.querySelector('#unzoom').addEventListener('click', unzoom);
  svg.querySelector('#search').addEventListener('click', function () {
    search(window.prompt('Search (regular expression)', '') || '');
  });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') unzoom(); });
  window.flamegraph = { zoom: function (name) {
      var g = frames.filter(function (f) { return f.dataset.n === name; })[0]; if (g) zoom(g); return !!g; },
    unzoom: unzoom, search: search, frames: frames };
  var box = document.getElementById('fg-search');
  if (box) box.addEventListener('input', function () { search(box.value); });
  unzoom();
})();
"""


def render_svg(profile: Profile, title: str = "pybpf profile") -> str:
    """The flame graph as a standalone interactive SVG document."""
    root = build_tree(profile.folded())
    frames, depth = _frames(root)
    height = PAD_TOP + PAD_BOTTOM + (depth + 1) * ROW
    subtitle = (f"{profile.total} samples, {profile.event} at {profile.frequency} Hz, "
                f"{profile.duration:.1f} s")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="flamegraph" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" data-width="{WIDTH}" data-row="{ROW}" data-height="{height}" '
        f'data-total="{max(root.value, 1)}" font-family="Verdana, sans-serif" font-size="11">\n'
        f'<style>g.frame {{ cursor: pointer; }} g.frame:hover rect {{ stroke: black; stroke-width: 0.5; }}'
        f' #unzoom, #search {{ cursor: pointer; }}</style>\n'
        f'<rect width="100%" height="100%" fill="rgb(250,250,240)"/>\n'
        f'<text x="{WIDTH // 2}" y="18" text-anchor="middle" font-size="15">{escape(title)}</text>\n'
        f'<text x="{WIDTH // 2}" y="34" text-anchor="middle" fill="gray">{escape(subtitle)}</text>\n'
        f'<text id="unzoom" x="10" y="18" opacity="0.3">Reset zoom</text>\n'
        f'<text id="search" x="{WIDTH - 110}" y="18">Search</text>\n'
        f'<text id="matched" x="{WIDTH - 10}" y="{height - 8}" text-anchor="end"></text>\n'
        f'<text id="details" x="10" y="{height - 8}"> </text>\n'
        + "\n".join(frames) +
        f'\n<script><![CDATA[{_SCRIPT}]]></script>\n</svg>\n'
    )


def render_html(profile: Profile, title: str = "pybpf profile") -> str:
    """The flame graph inside a self-contained HTML page with a search box."""
    svg = render_svg(profile, title)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title>"
        "<style>body{margin:8px;font-family:Verdana,sans-serif}#bar{margin:4px 10px}"
        "#fg-search{width:300px}</style></head><body>\n"
        '<div id="bar">Search: <input id="fg-search" placeholder="regular expression"> '
        "Click a frame to zoom, Escape to reset.</div>\n"
        f"{svg}</body></html>\n"
    )
