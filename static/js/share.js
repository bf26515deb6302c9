// The share-link page (/share/#<token>): the token is after "#", which browsers never send to a
// server, so it appears in no access log. This posts it in a form body instead ("peek": which
// extension, nothing used yet), after removing it from the address bar and the history entry.
(function () {
  "use strict";
  var form = document.getElementById("share-peek-form");
  if (!form) { return; }
  var token = window.location.hash.replace(/^#/, "");
  if (window.history.replaceState) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  if (!token) {
    document.getElementById("share-no-token").classList.remove("d-none");
    return;
  }
  form.elements.token.value = token;
  document.getElementById("share-opening").classList.remove("d-none");
  form.submit();
})();
