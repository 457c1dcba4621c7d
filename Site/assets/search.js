// Client-side search over window.FLYWHEEL_SEARCH (built by the site builder; results use textContent only).
// search-index.js lists each cycle's shard (window.FLYWHEEL_SEARCH_SHARDS); the shards are loaded only once there is
// a query, newest cycle first, a few at a time (script elements, so it works from file:// too), and the results are
// refreshed as each batch arrives.
(function () {
  "use strict";
  var input = document.getElementById("search-input");
  var list = document.getElementById("search-results");
  var status = document.getElementById("search-status");
  if (!input || !list) return;
  var shards = (window.FLYWHEEL_SEARCH_SHARDS || []).slice().reverse();
  var next = 0, loading = false, batch = 8;
  function entries() {
    var out = [];
    (window.FLYWHEEL_SEARCH || []).forEach(function (chunk) { out = out.concat(chunk); });
    return out;
  }
  function safeHref(u) { return /^[A-Za-z0-9_\-.\/#%]+$/.test(u) && u.indexOf("//") < 0 && u.indexOf(":") < 0 ? u : "#"; }
  function loadMore() {
    if (loading || next >= shards.length) return;
    loading = true;
    var group = shards.slice(next, next + batch), left = group.length;
    next += group.length;
    group.forEach(function (src) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = s.onerror = function () { if (--left === 0) { loading = false; run(); loadMore(); } };
      document.body.appendChild(s);
    });
  }
  function run() {
    var q = input.value.trim().toLowerCase();
    list.textContent = "";
    var all = entries();
    var pending = next < shards.length ? " (loading cycles: " + next + " of " + shards.length + ")" : "";
    if (!q) { status.textContent = "Type to search " + shards.length + " cycles."; return; }
    loadMore();
    var terms = q.split(/\s+/);
    var hits = all.filter(function (e) {
      var hay = (e.t + " " + e.x + " " + e.k).toLowerCase();
      return terms.every(function (t) { return hay.indexOf(t) >= 0; });
    });
    status.textContent = hits.length + " result" + (hits.length === 1 ? "" : "s") + pending;
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
