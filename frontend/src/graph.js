// DAG pictures of the console: laid out with dagre, drawn as SVG, panned by dragging,
// zoomed with the wheel or the buttons, nodes clickable. Exposed as window.LakeworksGraph.
import dagre from "@dagrejs/dagre";

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// data: {nodes: [{id, label, sub, state, href, group}], edges: [[from, to, cross]]}
function draw(container, data, options) {
  const opts = Object.assign({ rankdir: "LR", nodeWidth: 150, nodeHeight: 44 }, options || {});
  const started = performance.now();
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: opts.rankdir, nodesep: 14, ranksep: 48, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const widthOf = (n) => Math.min(Math.max(Math.max(n.label.length, (n.sub || "").length * 0.85) * 7.4 + 24,
    opts.nodeWidth), 320);
  for (const n of data.nodes) g.setNode(String(n.id), { width: widthOf(n), height: opts.nodeHeight });
  for (const [a, b] of data.edges) {
    if (g.hasNode(String(a)) && g.hasNode(String(b))) g.setEdge(String(a), String(b));
  }
  dagre.layout(g);
  const laidOut = performance.now();
  const size = g.graph();
  container.innerHTML = "";
  const svg = el("svg", { class: "dag", width: "100%", height: "100%",
    preserveAspectRatio: "xMidYMid meet" }, container);
  // never enlarge a small graph: at least one unit per pixel, centred
  const box = container.getBoundingClientRect();
  const natural = () => {
    const w = Math.max(size.width, box.width || 200);
    const h = Math.max(size.height, box.height || 100, (w * (box.height || 100)) / (box.width || 200));
    const wide = Math.max(w, (h * (box.width || 200)) / (box.height || 100));
    return { x: (size.width - wide) / 2, y: (size.height - h) / 2, w: wide, h };
  };
  const view = natural();
  const apply = () => svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  apply();
  const defs = el("defs", {}, svg);
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "dag-arrow" }, marker);
  const edges = el("g", { class: "dag-edges" }, svg);
  for (const e of g.edges()) {
    const points = g.edge(e).points;
    const d = points.map((p, i) => `${i ? "L" : "M"} ${p.x} ${p.y}`).join(" ");
    const cross = data.edges.find((x) => String(x[0]) === e.v && String(x[1]) === e.w);
    el("path", { d, class: cross && cross[2] ? "dag-edge cross" : "dag-edge",
      "marker-end": "url(#arrow)" }, edges);
  }
  const nodes = el("g", { class: "dag-nodes" }, svg);
  for (const n of data.nodes) {
    const box = g.node(String(n.id));
    const group = el("g", { class: `dag-node state-${n.state || "none"}`,
      transform: `translate(${box.x - box.width / 2}, ${box.y - box.height / 2})`,
      "data-id": String(n.id), tabindex: "0", role: "link" }, nodes);
    el("rect", { width: box.width, height: box.height, rx: 6 }, group);
    const title = el("text", { x: 10, y: n.sub ? 18 : 27, class: "dag-label" }, group);
    title.textContent = n.label.length > 41 ? n.label.slice(0, 40) + "…" : n.label;
    if (n.sub) {
      const sub = el("text", { x: 10, y: 35, class: "dag-sub" }, group);
      sub.textContent = n.sub;
    }
    el("title", {}, group).textContent = n.tooltip || n.label;
    if (n.href) {
      const go = () => { window.location.href = n.href; };
      group.addEventListener("click", go);
      group.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
    }
  }
  // pan and zoom
  let drag = null;
  svg.addEventListener("pointerdown", (ev) => {
    if (ev.target.closest(".dag-node")) return;
    drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y };
    svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const scale = view.w / svg.clientWidth;
    view.x = drag.vx - (ev.clientX - drag.x) * scale;
    view.y = drag.vy - (ev.clientY - drag.y) * scale;
    apply();
  });
  svg.addEventListener("pointerup", () => { drag = null; });
  const zoom = (factor, cx, cy) => {
    const px = cx === undefined ? view.x + view.w / 2 : cx;
    const py = cy === undefined ? view.y + view.h / 2 : cy;
    view.x = px - (px - view.x) * factor;
    view.y = py - (py - view.y) * factor;
    view.w *= factor;
    view.h *= factor;
    apply();
  };
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    const scale = view.w / r.width;
    zoom(ev.deltaY > 0 ? 1.15 : 1 / 1.15, view.x + (ev.clientX - r.left) * scale,
      view.y + (ev.clientY - r.top) * scale);
  }, { passive: false });
  const drawn = performance.now();
  container.dataset.layoutMs = String(Math.round(laidOut - started));
  container.dataset.drawMs = String(Math.round(drawn - started));
  container.dataset.nodes = String(data.nodes.length);
  return {
    zoomIn: () => zoom(1 / 1.25),
    zoomOut: () => zoom(1.25),
    fit: () => { Object.assign(view, natural()); apply(); },
    millis: drawn - started,
  };
}

window.LakeworksGraph = { draw };
