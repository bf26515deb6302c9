// The supervisor picker (máy giám sát): a text field for an extension number that offers the
// hotline's matching extensions as one types, asked from the list API (`data-picker` holds its
// URL, already limited to the hotline). A page never carries every extension of a hotline, so
// the form costs the same at 10 or 100,000 extensions. Loaded as a file (the CSP forbids inline
// scripts); without it the field still takes a typed number.
(function () {
  "use strict";

  function attach(input) {
    var list = document.createElement("datalist");
    list.id = input.id + "-choices";
    input.insertAdjacentElement("afterend", list);
    input.setAttribute("list", list.id);
    var timer = null;
    var asked = "";
    var controller = null;

    function show(results) {
      list.replaceChildren();
      results.forEach(function (extension) {
        var option = document.createElement("option");
        option.value = extension.number;
        option.label = extension.number + " — " + extension.alias;
        option.textContent = extension.number + " — " + extension.alias;
        list.appendChild(option);
      });
    }

    function ask() {
      var text = input.value.trim();
      if (text === asked) { return; }
      asked = text;
      if (!text) { show([]); return; }
      if (controller) { controller.abort(); }
      controller = new AbortController();
      fetch(input.dataset.picker + "&search=" + encodeURIComponent(text), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: controller.signal,
      })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (page) { if (input.value.trim() === text) { show(page.results || []); } })
        .catch(function () { /* offline or aborted: the typed number still works */ });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, 200);
    });
  }

  document.querySelectorAll("input[data-picker]").forEach(attach);
})();
