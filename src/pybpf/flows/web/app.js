// pybpf flows web UI: a service map (SVG, from /api/map) above a live flow table (/api/stream, SSE).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const MAX_ROWS = 500;
let source = null;

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function layout(nodes, width, height) {
  // nodes on a circle (one node: the centre), in a stable order
  const pos = {};
  const r = Math.min(width, height) / 2 - 50;
  nodes.forEach((n, i) => {
    const a = (2 * Math.PI * i) / nodes.length - Math.PI / 2;
    pos[n.id] = nodes.length === 1 ? [width / 2, height / 2]
      : [width / 2 + r * Math.cos(a), height / 2 + r * Math.sin(a)];
  });
  return pos;
}

function drawMap(data) {
  const svg = document.getElementById("map");
  const width = 900, height = 360;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const defs = el("defs");
  for (const [id, colour] of [["FORWARDED", "#2e7d32"], ["DROPPED", "#c62828"], ["MIXED", "#ef6c00"]]) {
    const marker = el("marker", {id: "arrow-" + id, viewBox: "0 0 10 10", refX: "10", refY: "5",
      markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse"});
    marker.appendChild(el("path", {d: "M 0 0 L 10 5 L 0 10 z", fill: colour}));
    defs.appendChild(marker);
  }
  svg.appendChild(defs);
  const pos = layout(data.nodes, width, height);
  for (const e of data.edges) {
    const [x1, y1] = pos[e.source], [x2, y2] = pos[e.target];
    const len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const ux = (x2 - x1) / len, uy = (y2 - y1) / len;
    const g = el("g", {class: "edge", "data-source": e.source, "data-target": e.target,
      "data-verdict": e.verdict, "data-forwarded": e.forwarded, "data-dropped": e.dropped});
    g.appendChild(el("line", {x1: x1 + ux * 30, y1: y1 + uy * 30, x2: x2 - ux * 32, y2: y2 - uy * 32,
      "marker-end": "url(#arrow-" + e.verdict + ")"}));
    const ports = e.ports.length ? " :" + e.ports.slice(0, 4).join(",") : "";
    const label = e.protocols.join("/") + ports + "  ✔" + e.forwarded + (e.dropped ? "  ✖" + e.dropped : "");
    g.appendChild(el("text", {x: (x1 + x2) / 2 - uy * 12, y: (y1 + y2) / 2 + ux * 12}, label));
    svg.appendChild(g);
  }
  for (const n of data.nodes) {
    const [x, y] = pos[n.id];
    const g = el("g", {class: "node", "data-ip": n.ip, "data-name": n.name});
    g.appendChild(el("circle", {cx: x, cy: y, r: 28}));
    g.appendChild(el("text", {x: x, y: y + 4}, n.name));
    if (n.name !== n.ip) g.appendChild(el("text", {x: x, y: y + 44, class: "ip"}, n.ip));
    svg.appendChild(g);
  }
}

async function refreshMap() {
  try {
    const r = await fetch("/api/map");
    drawMap(await r.json());
  } catch (err) {
    document.getElementById("status").textContent = "map: " + err;
  }
}

function endpoint(names, ip) { return names && names.length ? names[0] + " (" + ip + ")" : ip; }

function addRow(doc, atTop) {
  const f = doc.flow, l4 = f.l4 || {};
  const proto = Object.keys(l4)[0] || "";
  const info = l4[proto] || {};
  const tr = document.createElement("tr");
  tr.className = f.verdict;
  const cells = [f.time.replace("T", " ").replace("Z", ""),
    endpoint(f.source_names, f.IP.source) + (info.source_port !== undefined ? ":" + info.source_port : ""),
    endpoint(f.destination_names, f.IP.destination)
      + (info.destination_port !== undefined ? ":" + info.destination_port : ""),
    info.destination_port !== undefined ? String(f.is_reply ? info.source_port : info.destination_port) : "",
    proto, f.traffic_direction, f.verdict + (f.drop_reason_desc ? " (" + f.drop_reason_desc + ")" : ""),
    f.Summary];
  const classes = ["time", "source", "destination", "port", "protocol", "direction", "verdict", "summary"];
  cells.forEach((text, i) => {
    const td = document.createElement("td");
    td.className = classes[i];
    td.textContent = text;
    tr.appendChild(td);
  });
  const body = document.querySelector("#flows tbody");
  if (atTop) body.insertBefore(tr, body.firstChild); else body.appendChild(tr);
  while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
}

function query() {
  const params = new URLSearchParams();
  for (const id of ["ip", "port", "protocol", "verdict"]) {
    const v = document.getElementById("filter-" + id).value.trim();
    if (v) params.set(id, v);
  }
  return params;
}

async function connect() {
  if (source) source.close();
  const params = query();
  document.querySelector("#flows tbody").replaceChildren();
  params.set("last", "200");
  const r = await fetch("/api/flows?" + params);
  const data = await r.json();
  if (data.error) { document.getElementById("status").textContent = data.error; return; }
  for (const doc of data.flows) addRow(doc, true);
  params.delete("last");
  source = new EventSource("/api/stream?" + params);
  source.addEventListener("flow", (ev) => addRow(JSON.parse(ev.data), true));
  source.onopen = () => { document.getElementById("status").textContent = "live"; };
  source.onerror = () => { document.getElementById("status").textContent = "reconnecting…"; };
}

document.getElementById("filters").addEventListener("submit", (ev) => { ev.preventDefault(); connect(); });
refreshMap();
setInterval(refreshMap, 1000);
connect();
