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
  // Unix milliseconds as `YYYY-MM-DD HH:MM:SS`, UTC (as the server renders them).
  function utc(ms) {
    return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
  }
  // A streamed record's field as the server-rendered cell shows it.
  function cellText(record, field) {
    var value = record[field];
    if (field === "method" && value == null) { value = record.event; }
    if (value == null) { return ""; }
    if (field === "at_ms") { return utc(value); }
    if (field === "latency_us") {
      var ms = value / 1000;
      return (ms < 10 ? ms.toFixed(1) : ms.toFixed(0)) + " ms";
    }
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }
  // A table with `data-live-stream` (an admin API server-sent-event URL) gets each streamed
  // record (`data-live-event`) as a new first row: one cell per `th[data-field]`, the `id`
  // cell linked under `data-live-link`. At most 200 rows are kept.
  function liveTable(table) {
    var status = document.getElementById("live-status");
    var fields = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return { name: th.getAttribute("data-field"), numeric: th.classList.contains("num") };
    });
    var body = table.tBodies[0];
    var link = table.getAttribute("data-live-link");
    var source = new EventSource(table.getAttribute("data-live-stream"));
    function say(text) { if (status) { status.textContent = text; } }
    say("Connecting to the live feed…");
    source.addEventListener("open", function () { say("Live: new entries appear at the top."); });
    source.addEventListener("error", function () { say("Live feed interrupted; reconnecting…"); });
    source.addEventListener("lagged", function () { say("Live: some entries were skipped (too many at once); reload for all."); });
    source.addEventListener(table.getAttribute("data-live-event"), function (event) {
      var record = JSON.parse(event.data);
      var row = document.createElement("tr");
      row.setAttribute("data-id", record.id);
      row.className = "live-new";
      fields.forEach(function (field) {
        var cell = document.createElement("td");
        var text = cellText(record, field.name);
        if (field.name === "id" && link) {
          var a = document.createElement("a");
          a.href = link + encodeURIComponent(record.id);
          a.textContent = text;
          cell.appendChild(a);
        } else {
          cell.textContent = text;
        }
        if (field.numeric) { cell.className = "num"; }
        if (field.name === "outcome") { cell.className = "outcome-" + text; }
        if (field.name === "severity") { cell.className = "sev-" + text; }
        row.appendChild(cell);
      });
      body.insertBefore(row, body.firstChild);
      while (body.rows.length > 200) { body.deleteRow(body.rows.length - 1); }
      var empty = table.parentNode.querySelector("p.muted[id^=no-]");
      if (empty) { empty.remove(); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    // Selects in a `data-autosubmit` form apply at once (the button stays for no-JS use).
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("table[data-live-stream]").forEach(liveTable);
    // Forms that change something ask first when they carry `data-confirm`.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  });
})();
