// Bulk pages of the extension list: "select all", the selection count, and a progress bar
// while an import is checked or applied. Loaded as a file (the CSP forbids inline scripts);
// every page works without it.
(function () {
  "use strict";

  // Selection on the list page: row checkboxes belong to the bulk form (form="bulk-form").
  var rows = Array.prototype.slice.call(document.querySelectorAll(".js-select-row"));
  var all = document.querySelector(".js-select-all");
  function updateSelection() {
    var count = rows.filter(function (box) { return box.checked; }).length;
    document.querySelectorAll(".js-selected-count").forEach(function (el) { el.textContent = count; });
    document.querySelectorAll(".js-needs-selection").forEach(function (button) { button.disabled = count === 0; });
    if (all) {
      all.checked = count > 0 && count === rows.length;
      all.indeterminate = count > 0 && count < rows.length;
    }
  }
  if (rows.length) {
    rows.forEach(function (box) { box.addEventListener("change", updateSelection); });
    if (all) {
      all.addEventListener("change", function () {
        rows.forEach(function (box) { box.checked = all.checked; });
        updateSelection();
      });
    }
    updateSelection();
  }

  // Progress: the form posts as usual (the page stays until the answer arrives); meanwhile
  // the counters the server keeps for this form's token are polled and drawn.
  document.querySelectorAll("form.js-progress").forEach(function (form) {
    form.addEventListener("submit", function () {
      var panel = document.getElementById(form.dataset.progressPanel);
      if (!panel || !window.fetch) { return; }
      var bar = panel.querySelector(".js-progress-bar");
      var label = panel.querySelector(".js-progress-label");
      var meter = panel.querySelector("[role=progressbar]");
      panel.classList.remove("d-none");
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
      function poll() {
        fetch(panel.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (state) {
            if (state) {
              bar.style.width = state.percent + "%";
              meter.setAttribute("aria-valuenow", state.percent);
              label.textContent = state.label + (state.total ? " " + state.done + " / " + state.total : "");
            }
            setTimeout(poll, 500);
          })
          .catch(function () { setTimeout(poll, 1000); });
      }
      setTimeout(poll, 300);
    });
  });
})();
