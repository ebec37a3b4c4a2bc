// The console's small shared script: REST calls with the CSRF token, confirmations,
// form errors beside their fields, graphs, live logs. Exposed as window.Lakeworks.
(function () {
  "use strict";

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) return meta.content;
    const found = document.cookie.split("; ").find((c) => c.startsWith("lakeworks_csrf="));
    return found ? decodeURIComponent(found.split("=")[1]) : "";
  }

  function signIn() {
    const here = window.location.pathname + window.location.search;
    window.location.href = "/login?next=" + encodeURIComponent(here);
  }

  // One REST call: {ok, status, data}; a 401 (session ended) goes to sign-in.
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = csrf();
    let response;
    try {
      response = await fetch(path, {
        method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return { ok: false, status: 0, data: { error: { message: "the server did not answer: " + err } } };
    }
    if (response.status === 401 && !path.startsWith("/api/auth/login")) {
      signIn();
      return { ok: false, status: 401, data: {} };
    }
    let data = {};
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) data = await response.json();
    else data = { text: await response.text() };
    return { ok: response.ok, status: response.status, data };
  }

  function message(result) {
    const error = (result.data && result.data.error) || {};
    let text = error.message || ("HTTP " + result.status);
    const details = error.details || {};
    if (details.hint) text += " — " + details.hint;
    return text;
  }

  function toast(text, kind) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.className = "show " + (kind || "");
    clearTimeout(box._timer);
    box._timer = setTimeout(() => { box.className = ""; }, kind === "error" ? 8000 : 3500);
  }

  // A confirmation naming what an action will touch; resolves true or false.
  function confirmAction(title, body, okLabel) {
    const dialog = document.getElementById("confirm");
    if (!dialog) return Promise.resolve(window.confirm(title));
    document.getElementById("confirm-title").textContent = title;
    const content = document.getElementById("confirm-body");
    content.innerHTML = "";
    if (typeof body === "string") content.textContent = body;
    else if (body) content.appendChild(body);
    document.getElementById("confirm-ok").textContent = okLabel || "Confirm";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
    });
  }

  // Errors beside their fields (the typed values stay); the rest above the button.
  function showErrors(form, result) {
    form.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
    form.querySelectorAll(".invalid").forEach((i) => i.classList.remove("invalid"));
    const general = form.querySelector(".form-error");
    if (general) general.textContent = "";
    if (!result) return;
    const error = (result.data && result.data.error) || {};
    const problems = (error.details && error.details.problems) || [];
    let placed = false;
    // a key such as "trigger.minutes" names the field "trigger.minutes", else "minutes"
    const keyNames = (key) => {
      const parts = key.split(".");
      return parts.map((_, i) => parts.slice(0, parts.length - i).join(".")).concat(parts.slice(1).reverse());
    };
    const single = error.details && error.details.location;
    const all = problems.length ? problems : (single && single.key ? [{ message: error.message, location: single, hint: error.details.hint }] : []);
    const unplaced = [];
    for (const p of all) {
      let names;
      if (Array.isArray(p.location)) {
        names = p.location.filter((x) => typeof x === "string" && x !== "body").reverse();
      } else names = p.location && p.location.key ? keyNames(p.location.key) : [];
      const text = p.message + (p.hint ? " — " + p.hint : "");
      let here = false;
      for (const name of names) {
        const slot = form.querySelector(`.field-error[data-for="${name}"]`);
        if (slot) {
          slot.textContent = slot.textContent ? slot.textContent + "; " + text : text;
          const input = form.querySelector(`[name="${name}"]`);
          if (input) input.classList.add("invalid");
          placed = here = true;
          break;
        }
      }
      if (!here) unplaced.push(text);
    }
    const field = error.details && error.details.field;
    if (field) {
      const slot = form.querySelector(`.field-error[data-for="${field}"]`);
      if (slot) { slot.textContent = error.message; placed = true; }
    }
    if (general && unplaced.length && problems.length) general.textContent = unplaced.join("; ");
    else if (!placed && general) general.textContent = message(result);
  }

  // Stream a plain-text log into an element until the server ends it.
  async function followLog(url, target, onEnd) {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.status === 401) { signIn(); return; }
      if (!response.ok || !response.body) {
        target.textContent += "\n[could not read the log: HTTP " + response.status + "]";
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atBottom = target.scrollTop + target.clientHeight >= target.scrollHeight - 8;
        target.textContent += decoder.decode(value, { stream: true });
        if (atBottom) target.scrollTop = target.scrollHeight;
      }
    } finally {
      if (onEnd) onEnd();
    }
  }

  function initGraphs() {
    if (!window.LakeworksGraph) return;
    document.querySelectorAll("script[data-graph]").forEach((script) => {
      const id = script.dataset.graph;
      const box = document.getElementById(id);
      const data = JSON.parse(script.textContent);
      if (!data.nodes.length) {
        box.innerHTML = '<p class="muted pad">Nothing to draw.</p>';
        return;
      }
      box._graph = window.LakeworksGraph.draw(box, data);
    });
    document.querySelectorAll("[data-graph-zoom]").forEach((button) => {
      button.addEventListener("click", () => {
        const graph = document.getElementById(button.dataset.graphZoom)._graph;
        if (!graph) return;
        if (button.dataset.dir === "in") graph.zoomIn();
        else if (button.dataset.dir === "out") graph.zoomOut();
        else graph.fit();
      });
    });
  }

  // <button data-post="/api/..." data-body='{...}' data-confirm="title" data-touch="what">
  function initActionButtons() {
    document.querySelectorAll("button[data-post]").forEach((button) => {
      button.addEventListener("click", async () => {
        if (button.dataset.confirm) {
          const ok = await confirmAction(button.dataset.confirm, button.dataset.touch || "",
            button.textContent.trim());
          if (!ok) return;
        }
        button.disabled = true;
        const body = button.dataset.body ? JSON.parse(button.dataset.body) : {};
        const result = await api(button.dataset.method || "POST", button.dataset.post, body);
        button.disabled = false;
        if (!result.ok) { toast(message(result), "error"); return; }
        const refused = (result.data && result.data.refused) || [];
        if (refused.length) toast("refused: " + refused.map((r) => `${r.id}: ${r.reason}`).join("; "), "error");
        else toast("done");
        if (button.dataset.then) window.location.href = button.dataset.then;
        else setTimeout(() => window.location.reload(), refused.length ? 2500 : 400);
      });
    });
  }

  // <form data-api-method="PUT" data-api-path="/api/.../{name}">: fields become the JSON
  // body (data-kind: list, int, bool, map = "key: value" lines spread into the body;
  // data-path-only: used in the path only; empty fields are left out).
  function formBody(form) {
    const body = {};
    for (const input of form.querySelectorAll("[name]")) {
      if (input.disabled || input.dataset.pathOnly !== undefined) continue;
      const kind = input.dataset.kind || "text";
      const raw = input.type === "checkbox" ? input.checked : input.value.trim();
      if (kind === "bool") { body[input.name] = Boolean(raw); continue; }
      if (raw === "") continue;
      if (kind === "list") body[input.name] = raw.split(/[,\s]+/).filter(Boolean);
      else if (kind === "int") body[input.name] = /^-?\d+$/.test(raw) ? Number(raw) : raw;
      else if (kind === "map") {
        for (const line of raw.split("\n")) {
          const at = line.indexOf(":");
          if (at < 1) continue;
          const value = line.slice(at + 1).trim();
          body[line.slice(0, at).trim()] = /^-?\d+$/.test(value) ? Number(value) : value;
        }
      } else body[input.name] = raw;
    }
    return body;
  }

  function initApiForms() {
    document.querySelectorAll("form[data-api-path]").forEach((form) => {
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        showErrors(form, null);
        let missing = false;
        for (const input of form.querySelectorAll("[required]")) {
          if (!input.value.trim()) {
            const slot = form.querySelector(`.field-error[data-for="${input.name}"]`);
            if (slot) slot.textContent = "required";
            input.classList.add("invalid");
            missing = true;
          }
        }
        if (missing) return;
        const path = form.dataset.apiPath.replace(/\{(\w+)\}/g, (_, name) =>
          encodeURIComponent(form.elements[name].value.trim()));
        if (form.dataset.confirm && !(await confirmAction(form.dataset.confirm, form.dataset.touch || ""))) return;
        const result = await api(form.dataset.apiMethod || "POST", path, formBody(form));
        if (!result.ok) { showErrors(form, result); return; }
        const data = result.data || {};
        const out = form.querySelector(".form-result");
        if ((data.token || data.secret) && out) {
          // A credential is shown once: an application's key and secret, or a token.
          out.textContent = data.secret
            ? `Copy them now, the secret is shown only once. app key: ${data.app_key}  secret: ${data.secret}  bearer token: ${data.token}`
            : "Copy it now, it is shown only once: " + data.token;
          return;
        }
        toast("saved");
        setTimeout(() => window.location.reload(), 400);
      });
    });
  }

  function initFrame() {
    const switcher = document.getElementById("workspace-switch");
    if (switcher) switcher.addEventListener("change", () => {
      window.location.href = "/w/" + encodeURIComponent(switcher.value);
    });
    const out = document.getElementById("sign-out");
    if (out) out.addEventListener("click", async () => {
      await api("POST", "/api/auth/logout", {});
      window.location.href = "/login";
    });
    const login = document.getElementById("login-form");
    if (login) login.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const data = Object.fromEntries(new FormData(login));
      showErrors(login, null);
      let missing = false;
      for (const name of ["username", "password"]) {
        if (!data[name]) {
          login.querySelector(`.field-error[data-for="${name}"]`).textContent = "required";
          missing = true;
        }
      }
      if (missing) return;
      const result = await api("POST", "/api/auth/login", data);
      if (result.ok) window.location.href = login.dataset.next || "/";
      else showErrors(login, result);
    });
  }

  // A query result ({columns, rows, masked_columns, truncated}) as a table.
  function resultTable(data) {
    const wrap = document.createElement("div");
    const given = data.masked_columns || [];
    const masked = new Set(Array.isArray(given) ? given : Object.keys(given));
    const table = document.createElement("table");
    table.className = "list result";
    const head = table.createTHead().insertRow();
    for (const c of data.columns) {
      const th = document.createElement("th");
      th.textContent = c + (masked.has(c) ? " (masked)" : "");
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of data.rows) {
      const tr = body.insertRow();
      for (const v of row) {
        const td = tr.insertCell();
        td.textContent = v === null ? "NULL" : String(v);
        if (v === null) td.className = "muted";
      }
    }
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = `${data.row_count} row(s)` + (data.truncated ? " (truncated)" : "") +
      (data.seconds !== undefined ? ` in ${data.seconds} s` : "") +
      (masked.size ? ` · masked: ${[...masked].join(", ")}` : "");
    wrap.appendChild(note);
    wrap.appendChild(table);
    return wrap;
  }

  window.Lakeworks = { resultTable, api, csrf, toast, message, confirm: confirmAction, showErrors, followLog, signIn };
  document.addEventListener("DOMContentLoaded", () => {
    initFrame();
    initGraphs();
    initActionButtons();
    initApiForms();
  });
})();
