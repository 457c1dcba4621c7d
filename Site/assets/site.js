// Flywheel site behaviour: keyboard shortcuts, eval table filters, diff view switch, span tree.
// Untrusted text is only ever inserted with textContent; span bodies come pre-escaped from the site builder.
(function () {
  "use strict";
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    var box = document.getElementById("search-input") || document.getElementById("site-search");
    if (box) { e.preventDefault(); box.focus(); }
  });

  // Eval table: failures only, group by.
  document.querySelectorAll(".controls[data-table]").forEach(function (controls) {
    var table = document.getElementById(controls.getAttribute("data-table"));
    if (!table) return;
    var tbody = table.tBodies[0];
    var original = Array.prototype.slice.call(tbody.rows);
    function apply() {
      var failuresOnly = controls.querySelector(".failures-only");
      var flakyOnly = controls.querySelector(".flaky-only");
      var failingOnly = controls.querySelector(".failing-only");
      var groupSel = controls.querySelector(".group-by");
      var group = groupSel ? groupSel.value : "";
      tbody.querySelectorAll("tr.group-head").forEach(function (r) { r.remove(); });
      var rows = original.slice();
      rows.forEach(function (r) {
        var hide = false;
        if (failuresOnly && failuresOnly.checked && r.getAttribute("data-status") === "pass") hide = true;
        if (flakyOnly && flakyOnly.checked && !r.classList.contains("flaky")) hide = true;
        if (failingOnly && failingOnly.checked && !(r.classList.contains("latest-fail") || r.classList.contains("latest-error"))) hide = true;
        r.hidden = hide;
      });
      if (group) {
        rows.sort(function (a, b) {
          var ka = a.getAttribute("data-" + group) || "", kb = b.getAttribute("data-" + group) || "";
          return ka < kb ? -1 : ka > kb ? 1 : original.indexOf(a) - original.indexOf(b);
        });
      }
      var last = null;
      rows.forEach(function (r) {
        if (group) {
          var k = r.getAttribute("data-" + group) || "";
          if (k !== last && !r.hidden) {
            var head = document.createElement("tr");
            head.className = "group-head";
            var th = document.createElement("th");
            th.colSpan = r.cells.length;
            th.scope = "rowgroup";
            th.textContent = group + ": " + k;
            head.appendChild(th);
            tbody.appendChild(head);
            last = k;
          }
        }
        tbody.appendChild(r);
      });
    }
    controls.addEventListener("change", apply);
  });

  // Diff views.
  document.querySelectorAll(".diff-view").forEach(function (view) {
    var uni = view.querySelector(".show-unified"), split = view.querySelector(".show-split");
    function show(s) {
      view.querySelectorAll("table.unified").forEach(function (t) { t.hidden = s; });
      view.querySelectorAll("table.split").forEach(function (t) { t.hidden = !s; });
      uni.setAttribute("aria-pressed", String(!s));
      split.setAttribute("aria-pressed", String(s));
    }
    if (uni && split) {
      uni.addEventListener("click", function () { show(false); });
      split.addEventListener("click", function () { show(true); });
    }
  });

  // Span tree.
  var tree = document.querySelector(".span-tree");
  if (!tree) return;
  // Span bodies live in chunk files (<base>.<k>.data.js, chunkSize spans each) loaded on demand with a script
  // element: each chunk calls window.FLYWHEEL_SPANS (works from file://, where fetch of local files does not). A
  // trace of one chunk has it in the page instead (#span-data).
  var chunkBase = tree.getAttribute("data-chunk-base") || "";
  var chunkSize = parseInt(tree.getAttribute("data-chunk-size"), 10) || 100;
  var chunks = {}, waiting = {};
  window.FLYWHEEL_SPANS = function (c) {
    if (!c || typeof c.chunk !== "number") return;
    chunks[c.chunk] = c;
    var cbs = waiting[c.chunk] || [];
    delete waiting[c.chunk];
    cbs.forEach(function (f) { f(); });
  };
  // A small trace carries its only chunk in the page (a JSON script element) instead of a chunk file.
  var inline = document.getElementById("span-data");
  if (inline) {
    try { window.FLYWHEEL_SPANS(JSON.parse(inline.textContent)); } catch (e) { /* details then show as missing */ }
  }
  function withChunk(k, f) {
    if (chunks[k]) { f(); return; }
    if (waiting[k]) { waiting[k].push(f); return; }
    waiting[k] = [f];
    var s = document.createElement("script");
    s.src = chunkBase + "." + k + ".data.js";
    s.onerror = function () { window.FLYWHEEL_SPANS({ chunk: k, bodies: [], full: [] }); };
    document.head.appendChild(s);
  }
  var rows = Array.prototype.slice.call(tree.querySelectorAll(".span-row"));
  var detail = document.getElementById("span-detail");
  function depth(r) { return parseInt(r.getAttribute("data-depth"), 10) || 0; }
  function setExpanded(i, open) {
    var r = rows[i], d = depth(r);
    if (r.hasAttribute("aria-expanded")) r.setAttribute("aria-expanded", String(open));
    var skipBelow = -1;
    for (var j = i + 1; j < rows.length && depth(rows[j]) > d; j++) {
      var c = rows[j], cd = depth(c);
      if (!open) { c.hidden = true; continue; }
      if (skipBelow >= 0 && cd > skipBelow) { c.hidden = true; continue; }
      skipBelow = -1;
      c.hidden = false;
      if (c.getAttribute("aria-expanded") === "false") skipBelow = cd;
    }
  }
  function reveal(i) {
    var d = depth(rows[i]);
    for (var j = i - 1; j >= 0 && d > 0; j--) {
      if (depth(rows[j]) < d) { d = depth(rows[j]); if (rows[j].getAttribute("aria-expanded") === "false") setExpanded(j, true); }
    }
  }
  function bodyArticle(i) {
    var a = document.createElement("article");
    var k = Math.floor(i / chunkSize), c = chunks[k] || { bodies: [] };
    a.setAttribute("data-chunk", String(k));
    a.innerHTML = c.bodies[i % chunkSize] || "<p>No details.</p>"; // pre-escaped by the site builder
    return a;
  }
  var selecting = 0;
  function select(i, append) {
    rows.forEach(function (r) { r.classList.remove("selected"); });
    rows[i].classList.add("selected");
    var ticket = ++selecting;
    withChunk(Math.floor(i / chunkSize), function () {
      if (ticket !== selecting) return; // a later selection won
      if (!append) detail.textContent = "";
      detail.appendChild(bodyArticle(i));
    });
  }
  detail.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest(".show-full") : null;
    if (!b) return;
    var k = parseInt(b.getAttribute("data-full"), 10);
    var art = b.closest("article");
    var c = chunks[parseInt(art ? art.getAttribute("data-chunk") : "", 10)] || { full: [] };
    var holder = document.createElement("div");
    holder.innerHTML = c.full[k] || ""; // pre-escaped by the site builder
    var prev = b.previousElementSibling;
    if (prev && prev.tagName === "PRE") prev.remove();
    b.replaceWith(holder);
  });
  tree.addEventListener("click", function (e) {
    var row = e.target.closest(".span-row");
    if (!row) return;
    var i = parseInt(row.getAttribute("data-i"), 10);
    if (e.target.classList.contains("tog")) { setExpanded(i, row.getAttribute("aria-expanded") === "false"); return; }
    if (e.target.classList.contains("span-name")) {
      e.preventDefault();
      history.replaceState(null, "", "#" + row.id);
    }
    select(i, false);
  });
  tree.addEventListener("keydown", function (e) {
    var row = e.target.closest(".span-row");
    if (!row) return;
    var i = parseInt(row.getAttribute("data-i"), 10);
    if (e.key === "ArrowRight" && row.getAttribute("aria-expanded") === "false") { setExpanded(i, true); e.preventDefault(); }
    if (e.key === "ArrowLeft" && row.getAttribute("aria-expanded") === "true") { setExpanded(i, false); e.preventDefault(); }
  });
  var expandAll = document.querySelector(".expand-all"), collapseAll = document.querySelector(".collapse-all");
  if (expandAll) expandAll.addEventListener("click", function () {
    rows.forEach(function (r) { r.hidden = false; if (r.hasAttribute("aria-expanded")) r.setAttribute("aria-expanded", "true"); });
  });
  if (collapseAll) collapseAll.addEventListener("click", function () {
    rows.forEach(function (r, i) { if (depth(r) === 0 && r.hasAttribute("aria-expanded")) setExpanded(i, false); });
  });
  var errorsOnly = document.querySelector(".errors-only");
  if (errorsOnly) errorsOnly.addEventListener("change", function () { tree.classList.toggle("errors-only", errorsOnly.checked); });
  function fromHash() {
    var h = decodeURIComponent(location.hash.slice(1));
    if (h === "all-spans") {
      rows.forEach(function (r) { r.hidden = false; });
      var count = Math.ceil(rows.length / chunkSize), k = 0;
      var next = function () {
        if (k < count) { withChunk(k++, next); return; }
        detail.textContent = "";
        rows.forEach(function (r, i) { detail.appendChild(bodyArticle(i)); });
        detail.querySelectorAll(".show-full").forEach(function (b) { b.click(); });
      };
      next();
      return;
    }
    if (h.indexOf("span-") !== 0) return;
    var el = document.getElementById(h);
    if (!el || !el.classList.contains("span-row")) return;
    var i = parseInt(el.getAttribute("data-i"), 10);
    reveal(i);
    select(i, false);
    el.scrollIntoView({ block: "nearest" });
    detail.scrollIntoView({ block: "nearest" });
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
