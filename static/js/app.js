// Dashboard behaviour, loaded as a file (no inline scripts, so a strict CSP can forbid them).
(function () {
  "use strict";

  // Print buttons (the onboarding sheet).
  document.querySelectorAll(".js-print").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  // Language picker: submit on change.
  document.querySelectorAll(".js-autosubmit").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });

  // Copy buttons: copy the text of the element named by data-copy-target.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    document.body.removeChild(area);
    return Promise.resolve();
  }
  document.querySelectorAll(".js-copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.querySelector('[data-copy-source="' + button.dataset.copyTarget + '"]');
      if (!source) { return; }
      var text = source.tagName === "TEXTAREA" || source.tagName === "INPUT" ? source.value : source.textContent;
      var label = button.textContent;
      copyText(text.trim()).then(function () {
        button.textContent = "✔";
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });

  // Revealed login info hides itself: the password is removed from the page, not just covered.
  document.querySelectorAll(".js-revealed").forEach(function (panel) {
    var seconds = parseInt(panel.dataset.hideAfter, 10);
    if (!seconds) { return; }
    var countdown = panel.querySelector(".js-countdown");
    var note = panel.parentNode.querySelector(".js-hidden-note");
    var tick = setInterval(function () {
      seconds -= 1;
      if (countdown) { countdown.textContent = "(" + seconds + "s)"; }
      if (seconds <= 0) {
        clearInterval(tick);
        panel.remove();
        if (note) { note.classList.remove("d-none"); }
        // A reload must not re-send the reveal POST.
        if (window.history.replaceState) { window.history.replaceState(null, "", note ? note.querySelector("a").href : window.location.href); }
      }
    }, 1000);
  });

  // Ordered checkbox lists (number-group hotlines): ↑ ↓ buttons move a row; the form submits
  // the checked boxes in the order they appear.
  document.querySelectorAll("input.orderable").forEach(function (input) {
    var row = input.closest(".form-check");
    if (!row) { return; }
    (function (row) {
      row.classList.add("orderable-row");
      ["↑", "↓"].forEach(function (arrow, i) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "btn btn-outline-secondary btn-sm";
        b.textContent = arrow;
        b.setAttribute("aria-label", i === 0 ? "up" : "down");
        b.addEventListener("click", function () {
          if (i === 0 && row.previousElementSibling) {
            row.parentNode.insertBefore(row, row.previousElementSibling);
          } else if (i === 1 && row.nextElementSibling) {
            row.parentNode.insertBefore(row.nextElementSibling, row);
          }
        });
        row.appendChild(b);
      });
    })(row);
  });
})();
