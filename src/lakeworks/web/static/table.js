// A table's page: load the masked preview through the API (audited like any data read).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("preview");
    const button = document.getElementById("load-preview");
    if (!box || !button) return;
    button.addEventListener("click", async () => {
      button.disabled = true;
      const result = await window.Lakeworks.api("GET", box.dataset.url);
      if (!result.ok) { box.textContent = window.Lakeworks.message(result); return; }
      box.innerHTML = "";
      box.appendChild(window.Lakeworks.resultTable(result.data));
    });
  });
})();
