// DAG pictures of the console: the server lays the graph out (web/layout.py); this
// draws it as SVG, pans by dragging, zooms with the wheel or the buttons, and follows
// a node's link on click. Exposed as window.LakeworksGraph.
const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// data: {width, height, nodes: [{id, label, sub, state, href, tooltip, x, y, w, h}],
//        edges: [[from, to, cross]]}
function draw(container, data) {
  const started = performance.now();
  const size = { width: Math.max(data.width || 0, 1), height: Math.max(data.height || 0, 1) };
  const byId = new Map(data.nodes.map((n) => [String(n.id), n]));
  container.innerHTML = "";
  const svg = el("svg", { class: "dag", width: "100%", height: "100%",
    preserveAspectRatio: "xMidYMid meet" }, container);
  // never enlarge a small graph: at least one unit per pixel, centred
  const box = container.getBoundingClientRect();
  const bw = box.width || 200;
  const bh = box.height || 100;
  const natural = () => {
    const pad = 16;
    const w0 = size.width + 2 * pad;
    const h0 = size.height + 2 * pad;
    const scale = Math.max(w0 / bw, h0 / bh, 1);
    const w = bw * scale;
    const h = bh * scale;
    return { x: (size.width - w) / 2, y: (size.height - h) / 2, w, h };
  };
  const view = natural();
  const apply = () => svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  apply();
  const defs = el("defs", {}, svg);
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "dag-arrow" }, marker);
  const edges = el("g", { class: "dag-edges" }, svg);
  const paths = [];
  for (const [from, to, cross] of data.edges) {
    const a = byId.get(String(from));
    const b = byId.get(String(to));
    if (!a || !b) continue;
    const x1 = a.x + a.w;
    const y1 = a.y + a.h / 2;
    const x2 = b.x;
    const y2 = b.y + b.h / 2;
    const bend = Math.max((x2 - x1) / 2, 20);
    paths.push(`<path class="dag-edge${cross ? " cross" : ""}" marker-end="url(#arrow)" ` +
      `d="M ${x1} ${y1} C ${x1 + bend} ${y1} ${x2 - bend} ${y2} ${x2} ${y2}"/>`);
  }
  edges.innerHTML = paths.join("");
  const nodes = el("g", { class: "dag-nodes" }, svg);
  const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const parts = [];
  for (const n of data.nodes) {
    const label = n.label.length > 41 ? n.label.slice(0, 40) + "…" : n.label;
    parts.push(
      `<g class="dag-node state-${escape(n.state || "none")}" transform="translate(${n.x}, ${n.y})" ` +
      `data-id="${escape(n.id)}" tabindex="0" role="link">` +
      `<rect width="${n.w}" height="${n.h}" rx="6"/>` +
      `<text x="10" y="${n.sub ? 18 : 27}" class="dag-label">${escape(label)}</text>` +
      (n.sub ? `<text x="10" y="35" class="dag-sub">${escape(n.sub)}</text>` : "") +
      `<title>${escape(n.tooltip || n.label)}</title></g>`);
  }
  nodes.innerHTML = parts.join("");
  const follow = (target) => {
    const group = target.closest(".dag-node");
    const node = group && byId.get(group.dataset.id);
    if (node && node.href) window.location.href = node.href;
  };
  nodes.addEventListener("click", (ev) => follow(ev.target));
  nodes.addEventListener("keydown", (ev) => { if (ev.key === "Enter") follow(ev.target); });
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
  svg.getBoundingClientRect(); // force layout, so the time includes the browser's work
  const drawn = performance.now();
  container.dataset.drawMs = String(Math.round(drawn - started));
  container.dataset.nodes = String(data.nodes.length);
  container.dataset.drawnAt = String(Math.round(drawn));
  return {
    zoomIn: () => zoom(1 / 1.25),
    zoomOut: () => zoom(1.25),
    fit: () => { Object.assign(view, natural()); apply(); },
    millis: drawn - started,
  };
}

window.LakeworksGraph = { draw };
