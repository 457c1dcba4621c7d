// Client-side search over window.FLYWHEEL_SEARCH (built by the site builder; results use textContent only).
(function () {
  "use strict";
  var input = document.getElementById("search-input");
  var list = document.getElementById("search-results");
  var status = document.getElementById("search-status");
  if (!input || !list) return;
  var entries = [];
  (window.FLYWHEEL_SEARCH || []).forEach(function (chunk) { entries = entries.concat(chunk); });
  function safeHref(u) { return /^[A-Za-z0-9_\-.\/#%]+$/.test(u) && u.indexOf("//") < 0 && u.indexOf(":") < 0 ? u : "#"; }
  function run() {
    var q = input.value.trim().toLowerCase();
    list.textContent = "";
    if (!q) { status.textContent = "Type to search " + entries.length + " entries."; return; }
    var terms = q.split(/\s+/);
    var hits = entries.filter(function (e) {
      var hay = (e.t + " " + e.x + " " + e.k).toLowerCase();
      return terms.every(function (t) { return hay.indexOf(t) >= 0; });
    });
    status.textContent = hits.length + " result" + (hits.length === 1 ? "" : "s");
    hits.slice(0, 200).forEach(function (e) {
      var li = document.createElement("li");
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = e.k;
      var a = document.createElement("a");
      a.href = safeHref(e.u);
      a.textContent = e.t;
      var p = document.createElement("div");
      p.className = "muted";
      p.textContent = e.x;
      li.appendChild(kind); li.appendChild(a); li.appendChild(p);
      list.appendChild(li);
    });
  }
  input.addEventListener("input", run);
  input.form && input.form.addEventListener("submit", function (e) { e.preventDefault(); run(); });
  var m = /[?&]q=([^&#]*)/.exec(location.search);
  if (m) { input.value = decodeURIComponent(m[1].replace(/\+/g, " ")); }
  run();
})();
