// The console works without this file; it only adds conveniences.
(function () {
  "use strict";
  // The CSRF token the gateway set at login (the `csrf_token` cookie), for scripted calls.
  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrf_token=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }
  // fetch() for /admin/api calls from console pages: same-origin cookies plus X-CSRF-Token.
  window.consoleFetch = function (url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({ "X-CSRF-Token": csrfToken() }, options.headers || {});
    return fetch(url, options);
  };
  document.addEventListener("DOMContentLoaded", function () {
    // Selects in a `data-autosubmit` form apply at once (the button stays for no-JS use).
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    // Forms that change something ask first when they carry `data-confirm`.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  });
})();
