// Live status without reload: polls the hotline's status endpoint once a second and updates the
// status (and call) cells of the extension list or the wallboard. A file of its own, no inline
// script, for the strict Content-Security-Policy. Labels come from the table's data-label-*.
// The browser keeps the last answer and revalidates it with its ETag (cache: "no-cache"): an
// unchanged status comes back 304 without a body, and an unchanged ETag is not drawn again.
(function () {
  "use strict";
  var table = document.querySelector("[data-live-url]");
  if (!table) { return; }
  var url = table.getAttribute("data-live-url");
  var labels = table.dataset;
  var INTERVAL_MS = 1000;
  // A page in a background tab polls every 30 s, and at once when it is shown again: only the
  // pages someone looks at cost the server a poll a second (docs/performance.md, "Live status").
  var HIDDEN_INTERVAL_MS = 30000;
  var shownEtag = null;
  var timer = null;
  var polling = false;

  function schedule(ms) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, ms);
  }

  function badge(className, text) {
    var span = document.createElement("span");
    span.className = "badge " + className;
    span.textContent = text;
    return span;
  }

  function time(iso) {
    var d = new Date(iso);
    return d.toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" });
  }

  function render(id, state) {
    var cell = table.querySelector('[data-ext-status="' + id + '"]');
    if (cell) {
      var nodes = [];
      if (state.online) {
        nodes.push(badge("text-bg-success", "● " + labels.labelOnline));
        if (state.contacts > 1) {
          var n = document.createElement("span");
          n.className = "small text-muted";
          n.textContent = " ×" + state.contacts;
          nodes.push(n);
        }
      } else {
        nodes.push(badge("text-bg-light border", labels.labelOffline));
      }
      if (state.alert) {
        nodes.push(document.createTextNode(" "));
        nodes.push(badge("text-bg-danger js-offline-alert", labels.labelAlert));
      }
      if (cell.hasAttribute("data-since") && state.since) {
        var since = document.createElement("span");
        since.className = "small text-muted";
        since.textContent = " " + labels.labelSince + " " + time(state.since);
        nodes.push(since);
      }
      cell.replaceChildren.apply(cell, nodes);
      cell.setAttribute("data-online", state.online ? "1" : "0");
    }
    var callCell = table.querySelector('[data-ext-call="' + id + '"]');
    if (callCell) {
      callCell.textContent = state.call
        ? labels.labelOnCall + " " + state.call.peer + " " + labels.labelSince + " " + time(state.call.since)
        : labels.labelIdle;
    }
  }

  function poll() {
    polling = true;
    fetch(url, { credentials: "same-origin", cache: "no-cache", headers: { Accept: "application/json" } })
      .then(function (response) {
        var etag = response.headers.get("ETag");
        if (!response.ok || (etag && etag === shownEtag)) { return null; }
        return response.json().then(function (data) { shownEtag = etag; return data; });
      })
      .then(function (data) {
        if (data) {
          Object.keys(data.extensions).forEach(function (id) { render(id, data.extensions[id]); });
        }
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ })
      .finally(function () {
        polling = false;
        schedule(document.hidden ? HIDDEN_INTERVAL_MS : INTERVAL_MS);
      });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !polling) { schedule(0); }
  });
  schedule(INTERVAL_MS);
})();
