// Operations Center: actions with a confirmation naming what they touch, the live log,
// and the backfill dialog (preview before start).
(function () {
  "use strict";
  const L = window.Lakeworks;
  const LABELS = {
    run_now: "Run now", rerun: "Rerun", rerun_downstream: "Rerun with downstream",
    set_success: "Set success", stop: "Stop", suspend: "Suspend", resume: "Resume",
    freeze: "Freeze", unfreeze: "Unfreeze",
  };

  function list(items) {
    const box = document.createElement("div");
    const ul = document.createElement("ul");
    for (const text of items.slice(0, 30)) {
      const li = document.createElement("li");
      li.textContent = text;
      ul.appendChild(li);
    }
    if (items.length > 30) { const li = document.createElement("li"); li.textContent = `… and ${items.length - 30} more`; ul.appendChild(li); }
    box.appendChild(ul);
    return box;
  }

  async function act(base, action, ids, body) {
    const ok = await L.confirm(`${LABELS[action]}: ${ids.length} instance(s)?`, body, LABELS[action]);
    if (!ok) return;
    const result = await L.api("POST", base + action, { ids });
    if (!result.ok) { L.toast(L.message(result), "error"); return; }
    const changed = result.data.changed.length;
    const refused = result.data.refused;
    if (refused.length) L.toast(`${changed} changed; refused: ` + refused.map((r) => `${r.id}: ${r.reason}`).join("; "), "error");
    else L.toast(`${changed} instance(s) changed`);
    setTimeout(() => window.location.reload(), refused.length ? 3000 : 600);
  }

  function initBulk() {
    const bulk = document.getElementById("bulk");
    if (!bulk) return;
    const all = document.getElementById("select-all");
    if (all) all.addEventListener("change", () => {
      document.querySelectorAll("input.pick").forEach((box) => { box.checked = all.checked; });
    });
    bulk.querySelectorAll("button[data-bulk]").forEach((button) => {
      button.addEventListener("click", () => {
        const picked = [...document.querySelectorAll("input.pick:checked")];
        if (!picked.length) { L.toast("Select instances first (the boxes on the left)", "error"); return; }
        const ids = picked.map((box) => Number(box.value));
        const names = picked.map((box) => `${box.value}: ${box.closest("tr").dataset.label}`);
        const body = list(names);
        if (button.dataset.bulk === "rerun_downstream") {
          const note = document.createElement("p");
          note.textContent = "Every instance downstream of these is rerun too (it waits for them again).";
          body.prepend(note);
        }
        act(bulk.dataset.base, button.dataset.bulk, ids, body);
      });
    });
  }

  function initInstance() {
    const box = document.getElementById("instance-actions");
    if (box) box.querySelectorAll("button[data-one]").forEach((button) => {
      button.addEventListener("click", () => {
        const title = document.querySelector("h1").textContent.trim();
        const body = document.createElement("div");
        const p = document.createElement("p");
        p.textContent = title;
        body.appendChild(p);
        if (button.dataset.one === "rerun_downstream") {
          body.appendChild(document.getElementById("downstream-list").content.cloneNode(true));
        }
        const id = Number(window.location.pathname.split("/").pop());
        act(box.dataset.base, button.dataset.one, [id], body);
      });
    });
    const log = document.getElementById("log");
    if (log) L.followLog(log.dataset.url, log, () => {
      if (!log.textContent) log.textContent = "(no log lines)";
    });
  }

  function parseDates(text) {
    const ranges = [];
    for (const raw of text.split(/\n|;/)) {
      const line = raw.trim();
      if (!line) continue;
      const parts = line.split(/\s*(?:\.\.|to)\s*/);
      const norm = (d) => (/^\d{8}$/.test(d) ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}` : d);
      const start = norm(parts[0]);
      const end = norm(parts[1] || parts[0]);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(start) || !/^\d{4}-\d{2}-\d{2}$/.test(end)) return { error: `“${line}” is not a date or a range like 2026-04-01..2026-04-07` };
      ranges.push([start, end]);
    }
    if (!ranges.length) return { error: "give at least one business date" };
    return { ranges };
  }

  function initBackfill() {
    const form = document.getElementById("backfill");
    if (!form) return;
    const ws = document.body.dataset.workspace;
    const env = document.body.dataset.env;
    const startButton = document.getElementById("start");
    const scope = form.elements.scope;
    const endField = document.getElementById("end-node-field");
    scope.addEventListener("change", () => { endField.hidden = scope.value !== "chain"; });
    let previewed = null;
    form.addEventListener("input", () => { startButton.disabled = true; previewed = null; });

    function body() {
      L.showErrors(form, null);
      const dates = parseDates(form.elements.dates.value);
      const errors = {};
      if (dates.error) errors.dates = dates.error;
      if (!form.elements.node.value.trim()) errors.node = "which node to backfill";
      const parallel = form.elements.parallel.value.trim();
      if (!/^\d+$/.test(parallel) || Number(parallel) < 1 || Number(parallel) > 64) errors.parallel = "a whole number from 1 to 64";
      if (scope.value === "chain" && !form.elements.end_node.value.trim()) errors.end_node = "a chain needs an end node";
      const parameters = {};
      for (const line of form.elements.parameters.value.split("\n")) {
        if (!line.trim()) continue;
        const at = line.indexOf("=");
        if (at < 1) { errors.parameters = `“${line}” is not name=value`; break; }
        parameters[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
      for (const [name, text] of Object.entries(errors)) {
        form.querySelector(`.field-error[data-for="${name}"]`).textContent = text;
        const input = form.elements[name];
        if (input) input.classList.add("invalid");
      }
      if (Object.keys(errors).length) return null;
      const out = { node: form.elements.node.value.trim(), dates: dates.ranges, scope: scope.value,
        order: form.elements.order.value, parallel: Number(parallel), parameters };
      if (scope.value === "chain") out.end_node = form.elements.end_node.value.trim();
      return out;
    }

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const request = body();
      if (!request) return;
      const result = await L.api("POST", `/api/workspaces/${ws}/envs/${env}/backfills/preview`, request);
      if (!result.ok) { L.showErrors(form, result); return; }
      previewed = request;
      const plan = result.data;
      document.getElementById("preview-box").hidden = false;
      document.getElementById("preview-count").textContent = `${plan.instance_count} instance(s) of ${plan.nodes.length} node(s) over ${plan.dates.length} date(s)`;
      const warnings = document.getElementById("preview-warnings");
      warnings.innerHTML = "";
      for (const w of plan.warnings) { const li = document.createElement("li"); li.textContent = w; warnings.appendChild(li); }
      const rows = document.getElementById("preview-rows");
      rows.innerHTML = "";
      for (const i of plan.instances) {
        const tr = document.createElement("tr");
        for (const v of [i.step, i.lane, i.bizdate, i.node, i.cycle_time.replace("T", " ").slice(0, 16), i.run_mode]) {
          const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
        }
        rows.appendChild(tr);
      }
      startButton.disabled = plan.instance_count === 0;
      startButton.dataset.count = plan.instance_count;
    });

    startButton.addEventListener("click", async () => {
      if (!previewed) return;
      const ok = await L.confirm(`Start a backfill of ${startButton.dataset.count} instance(s)?`,
        `${previewed.node} (${previewed.scope}) for ${previewed.dates.map((r) => r.join("..")).join(", ")}, ${previewed.parallel} date(s) at a time.`, "Start backfill");
      if (!ok) return;
      const result = await L.api("POST", `/api/workspaces/${ws}/envs/${env}/backfills`, previewed);
      if (!result.ok) { L.showErrors(form, result); return; }
      L.toast(`Backfill run ${result.data.run.id} started`);
      setTimeout(() => { window.location.href = `/w/${ws}/envs/${env}/ops?run_type=backfill`; }, 600);
    });
  }

  document.addEventListener("DOMContentLoaded", () => { initBulk(); initInstance(); initBackfill(); });
})();
