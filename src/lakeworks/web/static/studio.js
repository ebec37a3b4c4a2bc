// The node editor page: settings form <-> file header, save, validate, render, dev run.
(function () {
  "use strict";
  const L = window.Lakeworks;
  const FIELDS = ["schedule.cycle", "schedule.at", "schedule.cron", "depends_on", "retries",
    "retry_delay_seconds", "timeout_seconds", "priority", "resource_group", "run_mode", "owner",
    "parameters"];
  const NUMBERS = new Set(["retries", "retry_delay_seconds", "timeout_seconds", "priority"]);

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("node-page");
    if (!root) return;
    const ws = document.body.dataset.workspace;
    const kind = root.dataset.kind;
    const prefix = kind === "sql" ? "--" : "#";
    const marker = prefix + " ---";
    let baseHash = root.dataset.hash;
    const editable = root.dataset.editable === "yes";
    const status = document.getElementById("status");
    const problemsList = document.getElementById("problems");
    const form = document.getElementById("settings");
    let header = JSON.parse(document.getElementById("header").textContent || "{}");
    const editor = window.LakeworksEditor.create(document.getElementById("editor"), {
      doc: JSON.parse(document.getElementById("content").textContent),
      kind, readOnly: !editable,
      onChange: () => { status.textContent = "unsaved changes"; },
    });

    // --- the header block of the file --------------------------------------------
    function headerRange(lines) {
      let start = 0;
      if (prefix === "#" && lines.length && lines[0].startsWith("#!")) start = 1;
      while (start < lines.length && !lines[start].trim()) start += 1;
      if (start >= lines.length || lines[start].trim() !== marker) return null;
      for (let i = start + 1; i < lines.length; i++) {
        if (lines[i].trim() === marker) return [start, i];
      }
      return null;
    }
    const loaded = JSON.parse(document.getElementById("header").textContent || "{}");
    // the header's lines by top-level key (a key's indented lines stay with it)
    function headerLines(lines, range) {
      const groups = new Map();
      let current = null;
      for (const line of lines.slice(range[0] + 1, range[1])) {
        const match = line.match(new RegExp(`^${prefix}\\s([A-Za-z_]+):`));
        if (match) { current = match[1]; groups.set(current, [line]); }
        else if (current) groups.get(current).push(line);
      }
      return groups;
    }
    // rewrite the header: keys whose value did not change keep their lines as written
    function writeHeader(values) {
      const lines = editor.getValue().split("\n");
      const range = headerRange(lines);
      const kept = range ? headerLines(lines, range) : new Map();
      const order = [...kept.keys(), ...Object.keys(values).filter((k) => !kept.has(k))];
      const body = [];
      for (const key of order) {
        if (!(key in values)) continue;
        const same = JSON.stringify(values[key]) === JSON.stringify(loaded[key]);
        if (same && kept.has(key)) body.push(...kept.get(key));
        else body.push(`${prefix} ${key}: ${JSON.stringify(values[key])}`);
      }
      const block = body.length ? [marker, ...body, marker] : [];
      let out;
      if (range) out = [...lines.slice(0, range[0]), ...block, ...lines.slice(range[1] + 1)];
      else {
        const at = prefix === "#" && lines[0] && lines[0].startsWith("#!") ? 1 : 0;
        out = [...lines.slice(0, at), ...block, ...lines.slice(at)];
      }
      editor.setValue(out.join("\n"));
    }

    // --- form <-> header ---------------------------------------------------------
    function fill() {
      const schedule = header.schedule || {};
      const set = (name, value) => { const f = form.elements[name]; if (f) f.value = value == null ? "" : value; };
      set("schedule.cycle", schedule.cycle);
      set("schedule.at", schedule.at);
      set("schedule.cron", schedule.cron);
      set("depends_on", (header.depends_on || []).join(", "));
      for (const k of ["retries", "retry_delay_seconds", "timeout_seconds", "priority", "resource_group", "owner"]) set(k, header[k]);
      set("run_mode", header.run_mode && header.run_mode !== "normal" ? header.run_mode : "");
      set("parameters", Object.entries(header.parameters || {}).map(([k, v]) => `${k}=${v}`).join("\n"));
    }
    function fromForm() {
      const h = Object.assign({}, header);
      const schedule = Object.assign({}, h.schedule || {});
      for (const name of FIELDS) {
        const raw = (form.elements[name].value || "").trim();
        if (name.startsWith("schedule.")) {
          const key = name.slice(9);
          if (raw) schedule[key] = raw; else delete schedule[key];
          continue;
        }
        if (!raw) { delete h[name]; continue; }
        if (name === "depends_on") h[name] = raw.split(/[,\s]+/).filter(Boolean);
        else if (name === "parameters") {
          const params = {};
          for (const line of raw.split("\n")) {
            if (!line.trim()) continue;
            const at = line.indexOf("=");
            params[(at < 0 ? line : line.slice(0, at)).trim()] = at < 0 ? "" : line.slice(at + 1).trim();
          }
          h[name] = params;
        } else if (NUMBERS.has(name) && /^-?\d+(\.\d+)?$/.test(raw)) h[name] = Number(raw);
        else h[name] = raw;
      }
      if (Object.keys(schedule).length) h.schedule = schedule; else delete h.schedule;
      return h;
    }
    fill();
    if (editable) form.addEventListener("change", () => {
      header = fromForm();
      writeHeader(header);
    });

    // --- problems at their line ----------------------------------------------------
    function locate(problem) {
      const where = problem.location || {};
      const file = where.file || "";
      const ours = !file || file.endsWith(root.dataset.file);
      return { ours, line: where.line, key: where.key, message: problem.message + (problem.hint ? " — " + problem.hint : "") };
    }
    function showProblems(result) {
      L.showErrors(form, null);
      problemsList.innerHTML = "";
      if (!result) { editor.showProblems([]); return; }
      const error = (result.data && result.data.error) || {};
      const details = error.details || {};
      let problems = details.problems || [];
      if (!problems.length) problems = [{ message: error.message, location: details.location, hint: details.hint }];
      const here = [];
      for (const p of problems.map(locate)) {
        const item = document.createElement("li");
        item.textContent = (p.line ? `line ${p.line}: ` : "") + p.message;
        problemsList.appendChild(item);
        if (p.ours) here.push({ line: p.line || 1, message: p.message });
        const field = p.key && form.querySelector(`.field-error[data-for="${p.key}"]`);
        if (field) {
          field.textContent = p.message;
          const input = form.elements[p.key];
          if (input) input.classList.add("invalid");
        }
      }
      editor.showProblems(here);
    }

    async function save() {
      status.textContent = "saving…";
      const result = await L.api("PUT", `/api/workspaces/${ws}/workflows/${root.dataset.workflow}/nodes/${root.dataset.node}`,
        { content: editor.getValue(), base_hash: baseHash });
      if (!result.ok) {
        status.textContent = "not saved";
        showProblems(result);
        L.toast("Not saved: " + L.message(result), "error");
        return false;
      }
      baseHash = result.data.hash;
      showProblems(null);
      status.textContent = "saved";
      L.toast("Saved to the dev folder");
      return true;
    }
    const saveButton = document.getElementById("save");
    if (saveButton) saveButton.addEventListener("click", save);
    document.addEventListener("keydown", (ev) => {
      if ((ev.ctrlKey || ev.metaKey) && ev.key === "s" && editable) { ev.preventDefault(); save(); }
    });

    document.getElementById("validate").addEventListener("click", async () => {
      status.textContent = "validating…";
      const result = await L.api("POST", `/api/workspaces/${ws}/validate`, {});
      if (!result.ok) { status.textContent = ""; L.toast(L.message(result), "error"); return; }
      if (result.data.ok) { showProblems(null); status.textContent = `valid (${result.data.nodes} nodes)`; return; }
      status.textContent = "problems found";
      showProblems({ data: { error: { details: { problems: result.data.problems.map((p) => ({ message: p.message, hint: p.hint, location: { file: p.file, line: p.line, key: p.key } })) } } } });
    });

    function bizdate() {
      const value = document.getElementById("bizdate").value.replace(/-/g, "").trim();
      const slot = document.getElementById("bizdate-error");
      slot.textContent = /^\d{8}$/.test(value) ? "" : "a business date is YYYYMMDD, e.g. 20260411";
      return slot.textContent ? null : value;
    }

    document.getElementById("render").addEventListener("click", async () => {
      const day = bizdate();
      if (!day) return;
      const result = await L.api("GET", `/api/workspaces/${ws}/workflows/${root.dataset.workflow}/nodes/${root.dataset.node}/render?bizdate=${day}`);
      if (!result.ok) { showProblems(result); L.toast(L.message(result), "error"); return; }
      document.getElementById("render-box").hidden = false;
      document.getElementById("render-date").textContent = "for " + day;
      document.getElementById("rendered").textContent = result.data.code;
    });

    const runButton = document.getElementById("run-dev");
    if (runButton) runButton.addEventListener("click", async () => {
      const day = bizdate();
      if (!day) return;
      if (editable && status.textContent === "unsaved changes" && !(await save())) return;
      runButton.disabled = true;
      const box = document.getElementById("run-box");
      const log = document.getElementById("run-log");
      const state = document.getElementById("run-state");
      box.hidden = false;
      log.textContent = "";
      state.innerHTML = '<span class="state state-running">starting</span>';
      const key = `${root.dataset.workflow}.${root.dataset.node}`;
      const run = await L.api("POST", `/api/workspaces/${ws}/dev-runs`, { bizdate: day, targets: [key] });
      if (!run.ok) { runButton.disabled = false; state.textContent = ""; log.textContent = L.message(run); return; }
      let instance = null;
      for (let i = 0; i < 100 && !instance; i++) {
        const found = await L.api("GET", `/api/workspaces/${ws}/envs/dev/instances?run_id=${run.data.id}&node=${encodeURIComponent(key)}`);
        if (found.ok && found.data.items.length) instance = found.data.items[0];
        else await new Promise((r) => setTimeout(r, 200));
      }
      if (!instance) { runButton.disabled = false; log.textContent = "the run did not start an instance"; return; }
      state.innerHTML = `<a href="/w/${ws}/envs/dev/ops/instances/${instance.id}"><span class="state state-running">running</span> instance ${instance.id}</a>`;
      await L.followLog(`/api/workspaces/${ws}/envs/dev/instances/${instance.id}/log?follow=true`, log);
      const done = await L.api("GET", `/api/workspaces/${ws}/envs/dev/instances/${instance.id}`);
      if (done.ok) {
        const s = done.data.state;
        state.innerHTML = `<a href="/w/${ws}/envs/dev/ops/instances/${instance.id}"><span class="state state-${s}">${s}</span> instance ${instance.id}</a>` + (done.data.reason ? ` <span class="muted">${done.data.reason.replace(/</g, "&lt;")}</span>` : "");
      }
      runButton.disabled = false;
    });
  });
})();
