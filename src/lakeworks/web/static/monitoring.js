// Monitoring: the forms that add, change and delete alert rules and channels. Each
// form is sent to the alerts API as JSON; the server's problems are shown beside the
// field they name (trigger.minutes, channels, url…) and what was typed stays.
(function () {
  "use strict";

  const list = (text) => text.split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
  const number = (text) => (/^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text);

  function value(form, name) {
    const input = form.elements[name];
    return input ? input.value.trim() : "";
  }

  function ruleBody(form) {
    const watch = value(form, "watch");
    const objects = {};
    if (watch === "workspace") objects.workspace = true;
    else objects[watch] = list(value(form, "objects"));
    const trigger = { type: value(form, "trigger.type") };
    for (const key of ["at", "minutes", "factor"]) {
      const raw = value(form, "trigger." + key);
      if (raw) trigger[key] = key === "at" ? raw : number(raw);
    }
    const body = {
      objects,
      trigger,
      channels: list(value(form, "channels")),
      enabled: form.elements.enabled.checked,
      recovered: form.elements.recovered.checked,
    };
    for (const key of ["max_alerts", "min_interval_minutes"]) {
      const raw = value(form, key);
      if (raw) body[key] = number(raw);
    }
    const quiet = value(form, "quiet_hours");
    if (quiet) body.quiet_hours = quiet;
    return body;
  }

  function fillRule(form, rule) {
    form.reset();
    form.elements.name.value = rule.name;
    const objects = rule.objects || {};
    const watch = objects.workspace ? "workspace"
      : ["nodes", "workflows", "baselines", "resource_groups"].find((k) => (objects[k] || []).length) || "nodes";
    form.elements.watch.value = watch;
    form.elements.objects.value = watch === "workspace" ? "" : (objects[watch] || []).join(", ");
    const trigger = rule.trigger || {};
    form.elements["trigger.type"].value = trigger.type;
    for (const key of ["at", "minutes", "factor"]) {
      form.elements["trigger." + key].value = trigger[key] == null ? "" : trigger[key];
    }
    form.elements.channels.value = (rule.channels || []).join(", ");
    form.elements.max_alerts.value = rule.max_alerts;
    form.elements.min_interval_minutes.value = rule.min_interval_minutes;
    form.elements.quiet_hours.value = rule.quiet_hours || "";
    form.elements.enabled.checked = rule.enabled !== false;
    form.elements.recovered.checked = Boolean(rule.recovered);
  }

  function channelBody(form) {
    const type = value(form, "type");
    const channel = { type };
    if (type === "email") {
      for (const key of ["host", "sender", "username"]) {
        const raw = value(form, key);
        if (raw) channel[key] = raw;
      }
      const port = value(form, "port");
      if (port) channel.port = number(port);
      const to = list(value(form, "to"));
      if (to.length) channel.to = to;
    } else {
      const url = value(form, "url");
      if (url) channel.url = url;
    }
    const body = { channel };
    const secret = form.elements.secret.value;
    if (secret) body.secret = secret;
    return body;
  }

  function showChannelFields(form) {
    const email = value(form, "type") === "email";
    form.querySelectorAll("[data-channel]").forEach((field) => {
      field.hidden = (field.dataset.channel === "email") !== email;
    });
  }

  function fillChannel(form, name, settings) {
    form.reset();
    form.elements.name.value = name;
    form.elements.type.value = settings.type;
    for (const key of ["host", "port", "sender", "username"]) {
      if (settings[key] != null) form.elements[key].value = settings[key];
    }
    form.elements.to.value = (settings.to || []).join(", ");
    form.elements.url.placeholder = "unchanged (type a new URL to change it)";
    showChannelFields(form);
  }

  // Send a form's JSON; errors beside their fields, else reload to show the change.
  function wire(form, method, path, body) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      Lakeworks.showErrors(form, null);
      const name = value(form, "name");
      if (!name) {
        form.querySelector('.field-error[data-for="name"]').textContent = "required";
        form.elements.name.classList.add("invalid");
        return;
      }
      const result = await Lakeworks.api(method, path(name), body(form));
      if (!result.ok) { Lakeworks.showErrors(form, result); return; }
      Lakeworks.toast("saved");
      setTimeout(() => window.location.reload(), 400);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const parts = window.location.pathname.split("/");
    const workspace = decodeURIComponent(parts[2]);
    const env = parts[4];
    const base = "/api/workspaces/" + encodeURIComponent(workspace);
    const rules = JSON.parse(document.getElementById("api-rules").textContent);
    const ruleForm = document.getElementById("rule-form");
    if (ruleForm) {
      wire(ruleForm, "PUT", (name) => `${base}/envs/${env}/alerts/rules/${encodeURIComponent(name)}`, ruleBody);
      document.querySelectorAll("[data-edit-rule]").forEach((button) => button.addEventListener("click", () => {
        fillRule(ruleForm, rules[button.dataset.editRule]);
        Lakeworks.showErrors(ruleForm, null);
        ruleForm.scrollIntoView({ behavior: "smooth", block: "center" });
        ruleForm.elements.name.focus();
      }));
    }
    const channelForm = document.getElementById("channel-form");
    if (channelForm) {
      const settings = JSON.parse(document.getElementById("api-channels").textContent);
      showChannelFields(channelForm);
      channelForm.elements.type.addEventListener("change", () => showChannelFields(channelForm));
      channelForm.addEventListener("reset", () => setTimeout(() => showChannelFields(channelForm)));
      wire(channelForm, "PUT", (name) => `${base}/alerts/channels/${encodeURIComponent(name)}`, channelBody);
      document.querySelectorAll("[data-edit-channel]").forEach((button) => button.addEventListener("click", () => {
        fillChannel(channelForm, button.dataset.editChannel, settings[button.dataset.editChannel]);
        Lakeworks.showErrors(channelForm, null);
        channelForm.scrollIntoView({ behavior: "smooth", block: "center" });
      }));
    }
  });
})();
