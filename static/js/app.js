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

  // A form that came back with errors: the focus goes to the first field in error (its message
  // is under it; the summary at the top lists them all), or to the summary when the errors are
  // not about one field. Links in the summary focus their field.
  var summary = document.querySelector(".js-error-summary");
  if (summary) {
    var form = summary.closest("form") || document;
    var first = form.querySelector(".is-invalid:not([type=hidden])");
    var retype = summary.querySelector(".js-retype-password a");
    if (!first && retype) { first = document.getElementById(retype.dataset.field); }
    (first || summary).focus();
    summary.querySelectorAll("a[data-field]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var field = document.getElementById(link.dataset.field);
        if (!field) { return; }
        event.preventDefault();
        field.scrollIntoView({block: "center"});
        field.focus();
      });
    });
  }

  // Fields with a length limit show a live count ("12/1000") instead of cutting the text at a
  // maxlength attribute: a longer text is refused with a message when saved, never cut silently.
  document.querySelectorAll("[data-max-chars]").forEach(function (field) {
    var max = parseInt(field.dataset.maxChars, 10);
    var counter = document.createElement("div");
    counter.className = "form-text char-counter";
    counter.id = field.id + "-counter";
    counter.setAttribute("aria-live", "polite");
    field.insertAdjacentElement("afterend", counter);
    var described = field.getAttribute("aria-describedby");
    field.setAttribute("aria-describedby", (described ? described + " " : "") + counter.id);
    function update() {
      // As the server counts: characters, and each line break as the two a form sends.
      var length = Array.from(field.value).length + (field.value.match(/\n/g) || []).length;
      var over = length > max;
      counter.textContent = length + "/" + max + (over ? " — " + field.dataset.overMessage : "");
      counter.classList.toggle("over", over);
    }
    field.addEventListener("input", update);
    update();
  });

  // A table wider than the screen scrolls inside its box: keyboard users can scroll it too.
  function scrollable() {
    document.querySelectorAll(".table-responsive").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth) { box.setAttribute("tabindex", "0"); }
      else { box.removeAttribute("tabindex"); }
    });
  }
  scrollable();
  window.addEventListener("resize", scrollable);
})();
