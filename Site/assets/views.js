// Flywheel site: the task page's answer diff and the compare page (any two cycles), computed in the browser from
// the data files the site builder writes (window.FLYWHEEL_TASK, window.FLYWHEEL_COMPARE). Untrusted text is only
// ever inserted with textContent; links are built from site paths the builder wrote.
(function () {
  "use strict";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // Line diff: common prefix and suffix trimmed, LCS on the rest (capped so a huge file cannot hang the page).
  var DIFF_CAP = 4000000;
  function lineDiff(a, b) {
    var x = a === "" ? [] : a.split("\n"), y = b === "" ? [] : b.split("\n");
    var pre = 0;
    while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
    var suf = 0;
    while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf]) suf++;
    var xs = x.slice(pre, x.length - suf), ys = y.slice(pre, y.length - suf);
    var out = [], i, j;
    for (i = 0; i < pre; i++) out.push([" ", x[i], i + 1, i + 1]);
    var n = xs.length, m = ys.length;
    if (n * m > DIFF_CAP) return null;
    var w = m + 1, L = new Uint32Array((n + 1) * w);
    for (i = n - 1; i >= 0; i--)
      for (j = m - 1; j >= 0; j--)
        L[i * w + j] = xs[i] === ys[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && xs[i] === ys[j]) { out.push([" ", xs[i], pre + i + 1, pre + j + 1]); i++; j++; }
      else if (j < m && (i >= n || L[i * w + j + 1] >= L[(i + 1) * w + j])) { out.push(["+", ys[j], "", pre + j + 1]); j++; }
      else { out.push(["-", xs[i], pre + i + 1, ""]); i++; }
    }
    for (i = 0; i < suf; i++) out.push([" ", x[x.length - suf + i], x.length - suf + i + 1, y.length - suf + i + 1]);
    return out;
  }

  // A unified diff table of a and b (context lines around changes; long unchanged runs folded).
  function diffTable(a, b) {
    if (a === b) return el("p", "placeholder", "No change.");
    var lines = lineDiff(a, b);
    if (!lines) return el("p", "placeholder", "Too large to diff in the browser.");
    var keep = new Array(lines.length), k, c;
    for (k = 0; k < lines.length; k++) if (lines[k][0] !== " ") for (c = Math.max(0, k - 3); c <= Math.min(lines.length - 1, k + 3); c++) keep[c] = true;
    var adds = 0, dels = 0;
    var table = el("table", "diff unified"), body = el("tbody");
    table.appendChild(body);
    var skipped = false;
    for (k = 0; k < lines.length; k++) {
      var l = lines[k];
      if (l[0] === "+") adds++;
      if (l[0] === "-") dels++;
      if (!keep[k]) { if (!skipped) { var h = el("tr", "hunk"); var td = el("td", "", "⋯"); td.colSpan = 3; h.appendChild(td); body.appendChild(h); } skipped = true; continue; }
      skipped = false;
      var tr = el("tr", l[0] === "+" ? "add" : l[0] === "-" ? "del" : "ctx");
      tr.appendChild(el("td", "ln", l[2]));
      tr.appendChild(el("td", "ln", l[3]));
      var code = el("td", "code");
      code.appendChild(el("span", "sign", l[0]));
      code.appendChild(document.createTextNode(l[1]));
      tr.appendChild(code);
      body.appendChild(tr);
    }
    var wrap = el("div", "diff-block");
    var stat = el("p", "diffstat");
    stat.appendChild(el("span", "add", "+" + adds));
    stat.appendChild(document.createTextNode(" "));
    stat.appendChild(el("span", "del", "−" + dels));
    wrap.appendChild(stat);
    wrap.appendChild(table);
    return wrap;
  }

  // Own properties only (ids come from the history: "constructor" or "__proto__" must stay plain keys).
  function own(o, k) { return o && Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined; }

  function option(value, label) { var o = el("option", "", label); o.value = String(value); return o; }

  // Task page: pick two runs (any two cycles) and a file.
  var task = document.querySelector(".task-diff");
  if (task && window.FLYWHEEL_TASK) {
    var runs = window.FLYWHEEL_TASK.runs || [];
    var dir = String(window.FLYWHEEL_TASK.dir || "");
    var selA = task.querySelector(".diff-a"), selB = task.querySelector(".diff-b"), selF = task.querySelector(".diff-file");
    var outT = task.querySelector(".diff-out");
    // Each cycle's run texts are in <dir>/NNNN.js, loaded by a script element when a diff needs them (works from
    // file://); the file hands them to window.FLYWHEEL_TASK_RUNS.
    var texts = {}, waitingRuns = {}, taskTicket = 0;
    window.FLYWHEEL_TASK_RUNS = function (d) {
      if (!d || typeof d.cycle !== "number") return;
      var m = Object.create(null);
      (d.runs || []).forEach(function (r) { if (r && typeof r.trace === "string") m[r.trace] = r.files || {}; });
      texts[d.cycle] = m;
      var cbs = waitingRuns[d.cycle] || [];
      delete waitingRuns[d.cycle];
      cbs.forEach(function (f) { f(); });
    };
    var withCycle = function (n, f) {
      if (texts[n]) { f(); return; }
      if (waitingRuns[n]) { waitingRuns[n].push(f); return; }
      waitingRuns[n] = [f];
      var p = String(n);
      while (p.length < 4) p = "0" + p;
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(dir) || !/^[0-9]+$/.test(p)) { window.FLYWHEEL_TASK_RUNS({ cycle: n, runs: [] }); return; }
      var s = document.createElement("script");
      s.src = dir + "/" + p + ".js";
      s.onerror = function () { window.FLYWHEEL_TASK_RUNS({ cycle: n, runs: [] }); };
      document.head.appendChild(s);
    };
    if (selA && selB && selF && outT && runs.length > 1) {
      runs.forEach(function (r, i) {
        var label = "Cycle " + r.cycle + " · " + (r.trace.length > 12 ? r.trace.slice(0, 8) + "…" : r.trace);
        selA.appendChild(option(i, label));
        selB.appendChild(option(i, label));
      });
      // The first run against the latest: what the loop has done to this answer so far.
      selA.value = "0";
      selB.value = String(runs.length - 1);
      var names = [];
      runs.forEach(function (r) { (r.order || []).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); }); });
      names.forEach(function (n) { selF.appendChild(option(n, n)); });
      var renderTask = function () {
        var a = runs[+selA.value], b = runs[+selB.value], f = selF.value;
        var ticket = ++taskTicket;
        if (!a || !b) { outT.textContent = ""; return; }
        withCycle(a.cycle, function () { withCycle(b.cycle, function () {
          if (ticket !== taskTicket) return; // a later choice won
          outT.textContent = "";
          var ta = own(own(texts[a.cycle], a.trace) || {}, f), tb = own(own(texts[b.cycle], b.trace) || {}, f);
          if (ta === undefined && tb === undefined) { outT.appendChild(el("p", "placeholder", "Neither run wrote " + f + ".")); return; }
          if (ta === undefined) outT.appendChild(el("p", "muted", "Cycle " + a.cycle + "'s run did not write " + f + "."));
          if (tb === undefined) outT.appendChild(el("p", "muted", "Cycle " + b.cycle + "'s run did not write " + f + "."));
          outT.appendChild(diffTable(ta || "", tb || ""));
        }); });
      };
      [selA, selB, selF].forEach(function (s) { s.addEventListener("change", renderTask); });
      renderTask();
    }
  }

  // Compare page.
  var out = document.getElementById("compare-out");
  var pickA = document.getElementById("compare-a"), pickB = document.getElementById("compare-b");
  // Each cycle's data file (compare/NNNN.js) is loaded by a script element when the cycle is picked (works from
  // file://); it adds itself to window.FLYWHEEL_COMPARE.
  var data = window.FLYWHEEL_COMPARE = window.FLYWHEEL_COMPARE || {};
  var meta = window.FLYWHEEL_COMPARE_INDEX || { cycles: [], diffs: [] };
  if (!out || !pickA || !pickB) return;

  function pad(n) { n = String(n); while (n.length < 4) n = "0" + n; return n; }
  var tried = {};
  function withShard(n, f) {
    if (own(data, String(n)) || tried[n] || meta.cycles.indexOf(n) < 0) { f(); return; }
    tried[n] = true;
    var s = document.createElement("script");
    s.src = "compare/" + pad(n) + ".js";
    s.onload = f;
    s.onerror = f;
    document.head.appendChild(s);
  }
  // A task's page file name as the builder wrote it (task_files of either cycle); null when unknown or unsafe.
  var taskFiles = {};
  function fileName(id) {
    var f = Object.prototype.hasOwnProperty.call(taskFiles, id) ? taskFiles[id] : null;
    return typeof f === "string" && /^[A-Za-z0-9_-]{1,80}$/.test(f) ? f : null;
  }
  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }
  function num(v, d) { return v === null || v === undefined ? "–" : (typeof v === "number" ? v.toFixed(d) : String(v)); }
  function delta(a, b, d, scale, unit) {
    if (a === null || a === undefined || b === null || b === undefined) return "";
    var x = (b - a) * scale;
    if (Math.abs(x) < Math.pow(10, -d) / 2) return "±0" + unit;
    return (x > 0 ? "+" : "") + x.toFixed(d) + unit;
  }
  function section(title) {
    var s = el("section", "compare-part");
    s.appendChild(el("h2", "", title));
    out.appendChild(s);
    return s;
  }
  function list(items, empty) {
    if (!items.length) return el("p", "muted", empty);
    var ul = el("ul");
    items.forEach(function (i) { ul.appendChild(i); });
    return ul;
  }
  function caseItem(id, from, to, taskID) {
    var li = el("li");
    li.appendChild(el("span", "case-id", id));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("span", "st st-" + from, from));
    li.appendChild(document.createTextNode(" → "));
    li.appendChild(el("span", "st st-" + to, to));
    var f = taskID ? fileName(taskID) : null;
    if (taskID) {
      li.appendChild(document.createTextNode(" "));
      var a = el("a", "task-link", "task");
      a.href = f ? "tasks/" + f + ".html" : "tasks.html";
      li.appendChild(a);
    }
    return li;
  }

  var ticket = 0;
  function render() {
    var na = +pickA.value, nb = +pickB.value, mine = ++ticket;
    withShard(na, function () { withShard(nb, function () { if (mine === ticket) show(na, nb); }); });
  }
  function show(na, nb) {
    var A = own(data, String(na)), B = own(data, String(nb));
    taskFiles = {};
    [A, B].forEach(function (C) {
      var tf = (C && C.task_files) || {};
      Object.keys(tf).forEach(function (k) { taskFiles[k] = tf[k]; });
    });
    out.textContent = "";
    try { history.replaceState(null, "", "#a=" + na + "&b=" + nb); } catch (e) { /* file:// may refuse */ }
    if (!A || !B) { out.appendChild(el("p", "placeholder", "The data of one of these cycles is missing.")); return; }
    out.appendChild(el("p", "lead", "Cycle " + na + " (A) → cycle " + nb + " (B)"));

    // Denominators.
    var rowsA = A.rows || {}, rowsB = B.rows || {};
    var idsA = Object.keys(rowsA), idsB = Object.keys(rowsB);
    var shared = idsA.filter(function (id) { return own(rowsB, id) !== undefined; }).sort();
    var notes = [];
    [A, B].forEach(function (C) {
      if (C.task_set && C.task_set.changed === true) notes.push("The task set changed in cycle " + C.n + " (" + C.task_set.file + ", " + C.task_set.count + " tasks).");
      if (C.scores && C.scores.not_run) notes.push(C.scores.not_run + " case(s) were not run in cycle " + C.n + " (no run of their task).");
    });
    if (idsA.length !== idsB.length || shared.length !== idsB.length)
      notes.push("Cycle " + na + " graded " + idsA.length + " case(s), cycle " + nb + " " + idsB.length + "; " + shared.length + " were graded in both and are compared.");
    if (notes.length) {
      var box = el("div", "notice");
      box.setAttribute("role", "note");
      box.appendChild(el("strong", "", "Different denominators: "));
      notes.forEach(function (n) { box.appendChild(el("p", "", n)); });
      out.appendChild(box);
    }

    // Scores.
    var s = section("Scores");
    var t = el("table", "scores"), tb = el("tbody");
    var head = el("tr");
    ["", "Cycle " + na, "Cycle " + nb, "Δ"].forEach(function (h) { var th = el("th", "", h); th.scope = "col"; head.appendChild(th); });
    var thead = el("thead"); thead.appendChild(head); t.appendChild(thead); t.appendChild(tb);
    var sa = A.scores || {}, sb = B.scores || {};
    [["Pass rate", "pass_rate", pct, 100, 1, " pp"], ["Mean score", "mean_score", function (v) { return num(v, 2); }, 1, 2, ""],
     ["Passed", "passed", function (v) { return num(v, 0); }, 1, 0, ""], ["Failed", "failed", function (v) { return num(v, 0); }, 1, 0, ""],
     ["Errors", "errors", function (v) { return num(v, 0); }, 1, 0, ""], ["Suite size", "suite_size", function (v) { return num(v, 0); }, 1, 0, ""],
     ["Not run", "not_run", function (v) { return num(v, 0); }, 1, 0, ""]].forEach(function (r) {
      var tr = el("tr");
      var th = el("th", "", r[0]); th.scope = "row"; tr.appendChild(th);
      tr.appendChild(el("td", "num", r[2](sa[r[1]])));
      tr.appendChild(el("td", "num", r[2](sb[r[1]])));
      tr.appendChild(el("td", "num", delta(sa[r[1]], sb[r[1]], r[4], r[3], r[5])));
      tb.appendChild(tr);
    });
    s.appendChild(t);

    // Flips: only cases graded in both cycles.
    var fixed = [], broke = [], other = [];
    shared.forEach(function (id) {
      var a = rowsA[id].s, b = rowsB[id].s;
      if (a === b) return;
      var item = caseItem(id, a, b, rowsB[id].t || rowsA[id].t);
      var failA = a === "fail" || a === "error", failB = b === "fail" || b === "error";
      if (failA && b === "pass") fixed.push(item); else if (a === "pass" && failB) broke.push(item); else other.push(item);
    });
    s = section("Cases flipped");
    s.appendChild(el("h3", "", "Fixed (" + fixed.length + ")"));
    s.appendChild(list(fixed, "None."));
    s.appendChild(el("h3", "", "Broken (" + broke.length + ")"));
    s.appendChild(list(broke, "None."));
    if (other.length) { s.appendChild(el("h3", "", "Other changes (" + other.length + ")")); s.appendChild(list(other, "")); }

    // Answers that changed.
    s = section("Answers that changed");
    var ansA = A.answers || {}, ansB = B.answers || {};
    var changed = Object.keys(ansB).filter(function (k) { return own(ansA, k) !== undefined && ansA[k] !== ansB[k]; }).sort();
    var onlyA = Object.keys(ansA).filter(function (k) { return own(ansB, k) === undefined; }).length;
    var onlyB = Object.keys(ansB).filter(function (k) { return own(ansA, k) === undefined; }).length;
    s.appendChild(el("p", "muted", changed.length + " of " + Object.keys(ansB).filter(function (k) { return own(ansA, k) !== undefined; }).length +
      " tasks answered in both cycles changed their answer" + (onlyA || onlyB ? "; " + onlyA + " answered only in A, " + onlyB + " only in B." : ".")));
    changed.forEach(function (k) {
      var d = el("details", "answer-diff");
      var sum = el("summary");
      sum.appendChild(el("code", "", k));
      var f = fileName(k);
      if (f) { sum.appendChild(document.createTextNode(" ")); var a = el("a", "task-link", "task page"); a.href = "tasks/" + f + ".html"; sum.appendChild(a); }
      d.appendChild(sum);
      d.addEventListener("toggle", function () { if (d.open && d.children.length === 1) d.appendChild(diffTable(ansA[k], ansB[k])); });
      s.appendChild(d);
    });

    // Failure modes.
    s = section("Failure modes");
    var mA = A.modes || {}, mB = B.modes || {};
    function modeItems(x, y) {
      return Object.keys(x).filter(function (id) { return own(y, id) === undefined; }).sort().map(function (id) {
        var li = el("li"); li.appendChild(el("code", "", id)); li.appendChild(document.createTextNode(" " + x[id])); return li;
      });
    }
    var appeared = modeItems(mB, mA), resolved = modeItems(mA, mB);
    s.appendChild(el("h3", "", "Appeared (" + appeared.length + ")"));
    s.appendChild(list(appeared, "None."));
    s.appendChild(el("h3", "", "Resolved (" + resolved.length + ")"));
    s.appendChild(list(resolved, "None."));

    // Harness diff.
    s = section("Harness diff");
    if (meta.diffs && meta.diffs.indexOf(na + "-" + nb) >= 0) {
      var p = el("p"), link = el("a", "", "Full diff page " + na + " → " + nb + " (with the handoff diff)");
      link.href = "diffs/" + pad(na) + "-" + pad(nb) + ".html";
      p.appendChild(link);
      s.appendChild(p);
    }
    if (A.harness_tree && A.harness_tree === B.harness_tree) { s.appendChild(el("p", "placeholder", "The harness is the same in both cycles.")); }
    else {
      var hA = A.harness || {}, hB = B.harness || {};
      var paths = Object.keys(hA).concat(Object.keys(hB).filter(function (k) { return own(hA, k) === undefined; })).sort();
      var any = false;
      paths.forEach(function (path) {
        var ta = own(hA, path), tb = own(hB, path);
        if (ta === tb) return;
        any = true;
        var sec = el("section", "diff-file");
        var h = el("h3", "diff-path"); h.appendChild(el("code", "", path));
        h.appendChild(el("span", "muted", ta === undefined ? " added" : tb === undefined ? " deleted" : " modified"));
        sec.appendChild(h);
        sec.appendChild(diffTable(ta || "", tb || ""));
        s.appendChild(sec);
      });
      if (!any) s.appendChild(el("p", "placeholder", "No harness file differs."));
    }
  }

  var m = /a=(\d+)&b=(\d+)/.exec(location.hash || "");
  if (m && meta.cycles.indexOf(+m[1]) >= 0 && meta.cycles.indexOf(+m[2]) >= 0) { pickA.value = m[1]; pickB.value = m[2]; }
  pickA.addEventListener("change", render);
  pickB.addEventListener("change", render);
  render();
})();
