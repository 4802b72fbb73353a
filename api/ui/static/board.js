// Operations board: open alerts grouped by level with live countdowns, the
// queue of orders nobody accepted, suspected group complaints and open
// batches, today's counts and charts (orders per hour; the indicators for
// a supervisor). Data from GET /ui/board/data; alerts kept live by the
// SSE feed /v1/stream/alerts, each change also refreshing the rest.
(function () {
  "use strict";
  var H = window.hotlined;
  var board = document.getElementById("board");
  if (!board || !H) return;
  var t = H.t, word = H.word, el = H.el;
  var canAck = board.dataset.canAck === "true";
  var canConfirm = board.dataset.canConfirm === "true";
  var canReject = board.dataset.canReject === "true";
  var liveEl = document.getElementById("live");
  var errorEl = document.getElementById("board-error");
  var alerts = new Map();
  var numbers = new Map(); // work order -> {caller_masked, service_number}
  // Groups, most urgent first: major and group complaints reported upward,
  // then breaches by ladder level (highest first), then warnings.
  var severityRank = { major: 0, group: 1, breach: 2, warning: 3 };

  function showError(msg) { H.showError(errorEl, msg); }
  function rank(a) { var r = severityRank[a.severity]; return r === undefined ? 9 : r; }
  function groupTitle(a) {
    var s = word("severity", a.severity);
    var lvl = a.level > 0 ? t("level", { n: a.level }) : t("levelwarn");
    return s + " · " + lvl + (a.level_name ? " · " + word("level", a.level_name) : "");
  }
  function link(id) {
    var a = el("a", null, id);
    a.href = "/ui/workorders/" + encodeURIComponent(id);
    return a;
  }
  function cell(tr, text, cls) { var td = el("td", cls, text); tr.append(td); return td; }

  function renderAlerts() {
    var groupsEl = document.getElementById("groups");
    var list = Array.from(alerts.values()).filter(function (a) { return a.state === "open"; });
    list.sort(function (a, b) {
      return rank(a) - rank(b) || b.level - a.level || (a.priority || 9) - (b.priority || 9) ||
        String(a.deadline || a.due_at).localeCompare(String(b.deadline || b.due_at));
    });
    document.getElementById("count").textContent = t("open", { n: list.length });
    document.getElementById("kpi-alerts").textContent = list.length;
    groupsEl.replaceChildren();
    if (!list.length) { groupsEl.append(el("p", "hint empty", t("noalerts"))); return; }
    var current = null, tbody = null;
    list.forEach(function (a) {
      var key = a.severity + "/" + a.level;
      if (key !== current) {
        current = key;
        var sec = el("section", "group sev-" + a.severity);
        sec.dataset.group = key;
        sec.append(el("h3", null, groupTitle(a)));
        var table = el("table", "alerts");
        table.append(el("thead"));
        table.tHead.append(document.getElementById("alert-head").content.cloneNode(true));
        tbody = el("tbody"); table.append(tbody);
        sec.append(table);
        groupsEl.append(sec);
      }
      var n = numbers.get(a.work_order_id) || { caller_masked: a.caller_masked, service_number: a.service_number };
      var tr = el("tr", "alert");
      tr.dataset.alertId = a.id;
      var td = el("td"); td.append(link(a.work_order_id)); tr.append(td);
      cell(tr, n.caller_masked || "", "caller");
      cell(tr, n.service_number || "", "service-number");
      cell(tr, word("stage", a.stage));
      cell(tr, word("class", a.class) + (a.priority ? " · " + t("priority", { n: a.priority }) : ""));
      cell(tr, word("province", a.province));
      cell(tr, H.time(a.deadline || a.due_at), "time");
      var cd = cell(tr, "", "countdown");
      cd.dataset.due = a.deadline || a.due_at;
      var actions = el("td");
      if (canAck) {
        var b = el("button", "ack", board.dataset.ackLabel);
        b.type = "button";
        b.addEventListener("click", function () { ack(a.id, b); });
        actions.append(b);
      }
      tr.append(actions);
      tbody.append(tr);
    });
    H.tick();
  }

  function renderRest(d) {
    document.getElementById("day").textContent = d.day;
    var q = document.getElementById("queue");
    q.replaceChildren();
    document.getElementById("kpi-queue").textContent = d.queue.length;
    if (!d.queue.length) { var tr0 = el("tr"); var c0 = cell(tr0, t("noqueue"), "hint empty"); c0.colSpan = 6; q.append(tr0); }
    d.queue.forEach(function (o) {
      var tr = el("tr", "queued");
      tr.dataset.id = o.id;
      var td = el("td"); td.append(link(o.id)); tr.append(td);
      var w = cell(tr, "", "waiting"); w.dataset.since = o.created_at; w.title = H.time(o.created_at);
      var cls = word("class", o.class) + (o.status !== "new" ? " · " + word("status", o.status) : "");
      (o.flags || []).forEach(function (f) { cls += " · " + word("flag", f); });
      cell(tr, cls);
      cell(tr, word("province", o.province));
      cell(tr, o.caller_masked || "");
      cell(tr, o.service_number || "");
      q.append(tr);
    });

    var inc = document.getElementById("incidents");
    inc.replaceChildren();
    document.getElementById("kpi-incidents").textContent = d.incidents.length;
    if (!d.incidents.length) { var tr1 = el("tr"); var c1 = cell(tr1, t("noincidents"), "hint empty"); c1.colSpan = 6; inc.append(tr1); }
    d.incidents.forEach(function (i) {
      var tr = el("tr", "incident");
      tr.dataset.incidentId = i.id;
      cell(tr, word("province", i.province));
      cell(tr, problem(i));
      cell(tr, word("rule", i.rule));
      cell(tr, t("members", { n: i.members }));
      cell(tr, H.time(i.raised_at), "time");
      var actions = el("td");
      if (canConfirm) actions.append(incidentButton(i.id, "confirm", board.dataset.confirmLabel));
      if (canReject) actions.append(incidentButton(i.id, "reject", board.dataset.rejectLabel));
      tr.append(actions);
      inc.append(tr);
    });

    var bt = document.getElementById("batches");
    bt.replaceChildren();
    var batches = d.batches || [];
    if (!batches.length) { var tr2 = el("tr"); var c2 = cell(tr2, t("nobatches"), "hint empty"); c2.colSpan = 5; bt.append(tr2); }
    batches.forEach(function (i) { // listed only: a batch is not confirmed or rejected
      var tr = el("tr", "batch");
      tr.dataset.incidentId = i.id;
      cell(tr, word("province", i.province));
      cell(tr, problem(i));
      cell(tr, word("incident_state", i.state));
      cell(tr, t("members", { n: i.members }));
      cell(tr, H.time(i.raised_at), "time");
      bt.append(tr);
    });

    document.getElementById("kpi-today").textContent = d.total;
    countTable("by-class", d.by_class, "class", d.total);
    countTable("by-province", d.by_province, "province", d.total);
    H.tick();
  }
  // problem names an incident's problem: its subcategory and its code's label.
  function problem(i) {
    var parts = [];
    if (i.subcategory) parts.push(word("sub", i.subcategory));
    if (i.problem_code) parts.push(word("problem", i.problem_code));
    return parts.join(" · ");
  }
  function countTable(id, rows, kind, total) {
    var body = document.getElementById(id);
    body.replaceChildren();
    if (!rows.length) { var tr0 = el("tr"); cell(tr0, t("nodata"), "hint empty"); body.append(tr0); return; }
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.dataset.id = r.id;
      cell(tr, word(kind, r.id));
      cell(tr, String(r.n), "n");
      var bar = el("td", "bar-cell"); var span = el("span", "bar");
      span.style.width = Math.round(100 * r.n / Math.max(total, 1)) + "%";
      bar.append(span); tr.append(bar);
      body.append(tr);
    });
  }
  function incidentButton(id, action, label) {
    var b = el("button", action, label);
    b.type = "button";
    b.dataset.action = action;
    b.addEventListener("click", function () {
      var body = {};
      if (action === "reject") { // the API wants the reason
        var note = window.prompt(board.dataset.rejectPrompt || "");
        if (!note || !note.trim()) return;
        body.note = note.trim();
      }
      b.disabled = true;
      H.post("/v1/incidents/" + encodeURIComponent(id) + "/" + action, body)
        .then(function () { showError(""); refresh(); })
        .catch(function (err) { b.disabled = false; showError(t("confirmfailed", { id: id, err: err.message })); });
    });
    return b;
  }
  function ack(id, button) {
    button.disabled = true;
    H.post("/v1/alerts/" + encodeURIComponent(id) + "/ack", {})
      .catch(function (err) { if (err.status !== 409) throw err; })
      .then(function () { alerts.delete(id); showError(""); renderAlerts(); })
      .catch(function (err) { button.disabled = false; showError(t("ackfailed", { id: id, err: err.message })); });
  }

  var refreshing = null, again = false;
  // refresh reloads the board's data; calls while one runs fold into one more.
  function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = fetch("/ui/board/data", { credentials: "same-origin" }).then(function (resp) {
      if (resp.status === 401) { location.href = "/ui/login?next=" + encodeURIComponent("/ui/board"); return; }
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      return resp.json().then(function (d) {
        alerts.clear();
        d.alerts.forEach(function (a) {
          alerts.set(a.id, a);
          numbers.set(a.work_order_id, { caller_masked: a.caller_masked, service_number: a.service_number });
        });
        renderAlerts();
        renderRest(d);
        ["hourly", "indicators"].forEach(function (chart) {
          var img = document.getElementById(chart);
          if (img) img.src = img.src.replace(/&t=\d+$/, "") + "&t=" + Date.now();
        });
        showError("");
      });
    }).catch(function (err) { showError(t("loadfailed", { err: err.message })); })
      .then(function () {
        refreshing = null;
        if (again) { again = false; setTimeout(refresh, 1000); }
      });
    return refreshing;
  }
  function onAlert(ev) {
    var a;
    try { a = JSON.parse(ev.data); } catch (e) { return; }
    if (!a || !a.id) return;
    if (a.state === "open") alerts.set(a.id, a); else alerts.delete(a.id);
    renderAlerts();
    refresh(); // the numbers of a new order, the queue and the counts
  }
  function connect() {
    if (board.dataset.hasFeed !== "true") { liveEl.textContent = t("nofeed"); return; }
    var es = new EventSource("/v1/stream/alerts", { withCredentials: true });
    es.onopen = function () { liveEl.textContent = t("live"); liveEl.className = "live on"; };
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        liveEl.textContent = t("disconnected"); liveEl.className = "live off";
        setTimeout(function () { refresh().then(connect); }, 5000);
      } else {
        liveEl.textContent = t("reconnecting"); liveEl.className = "live off";
      }
    };
    ["hotline.alert.raised", "hotline.alert.acked", "hotline.alert.resolved"].forEach(function (ty) {
      es.addEventListener(ty, onAlert);
    });
    es.addEventListener("reset", function () { refresh(); });
  }
  refresh().then(connect);
  setInterval(refresh, 30000); // new orders raise no alert: the queue and counts poll
})();
