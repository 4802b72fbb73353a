// Supervisor board: open alerts from GET /v1/alerts, kept live by the SSE
// feed /v1/stream/alerts (the browser reconnects with Last-Event-ID).
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) return;
  var canAck = board.dataset.canAck === "true";
  var groupsEl = document.getElementById("groups");
  var liveEl = document.getElementById("live");
  var countEl = document.getElementById("count");
  var errorEl = document.getElementById("board-error");
  var alerts = new Map();
  var severityRank = { major: 0, group: 1, breach: 2, warning: 3 };

  function showError(msg) {
    errorEl.textContent = msg;
    errorEl.hidden = !msg;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function time(t) {
    if (!t) return "";
    var d = new Date(t);
    return isNaN(d) ? t : d.toLocaleString();
  }
  function rank(a) {
    var r = severityRank[a.severity];
    return r === undefined ? 9 : r;
  }
  function render() {
    var list = Array.from(alerts.values()).filter(function (a) { return a.state === "open"; });
    list.sort(function (a, b) {
      return rank(a) - rank(b) || b.level - a.level || (a.priority || 9) - (b.priority || 9) ||
        String(a.raised_at).localeCompare(String(b.raised_at));
    });
    countEl.textContent = list.length + " open";
    groupsEl.replaceChildren();
    if (!list.length) {
      groupsEl.append(el("p", "hint empty", "No open alerts."));
      return;
    }
    var current = null, tbody = null;
    list.forEach(function (a) {
      var key = a.severity + "/" + a.level;
      if (key !== current) {
        current = key;
        var sec = el("section", "group sev-" + a.severity);
        var title = a.severity + " · level " + a.level + (a.level_name ? " (" + a.level_name + ")" : "");
        sec.append(el("h2", null, title));
        var table = el("table", "alerts");
        var head = el("tr");
        ["Work order", "Stage", "Class", "Province", "Deadline", "Raised", ""].forEach(function (h) { head.append(el("th", null, h)); });
        table.append(el("thead")); table.tHead.append(head);
        tbody = el("tbody");
        table.append(tbody);
        sec.append(table);
        groupsEl.append(sec);
      }
      var tr = el("tr", "alert");
      tr.dataset.alertId = a.id;
      var link = el("a", null, a.work_order_id);
      link.href = "/ui/workorders/" + encodeURIComponent(a.work_order_id);
      var td = el("td"); td.append(link); tr.append(td);
      tr.append(el("td", null, a.stage));
      tr.append(el("td", null, a.class + (a.priority ? " P" + a.priority : "")));
      tr.append(el("td", null, (a.tier || "") + " " + (a.province || "")));
      tr.append(el("td", null, time(a.deadline)));
      tr.append(el("td", null, time(a.raised_at)));
      var actions = el("td");
      if (canAck) {
        var b = el("button", "ack", "Ack");
        b.type = "button";
        b.addEventListener("click", function () { ack(a.id, b); });
        actions.append(b);
      }
      tr.append(actions);
      tbody.append(tr);
    });
  }
  function ack(id, button) {
    button.disabled = true;
    fetch("/v1/alerts/" + encodeURIComponent(id) + "/ack", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Hotlined-CSRF": "1" },
      body: "{}"
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (!resp.ok && resp.status !== 409) throw new Error(body.error || ("HTTP " + resp.status));
        alerts.delete(id);
        showError("");
        render();
      });
    }).catch(function (err) {
      button.disabled = false;
      showError("Could not acknowledge " + id + ": " + err.message);
    });
  }
  function load() {
    return fetch("/v1/alerts?state=open", { credentials: "same-origin" }).then(function (resp) {
      if (resp.status === 401) { location.href = "/ui/login?next=" + encodeURIComponent("/ui/board"); return; }
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      return resp.json().then(function (body) {
        alerts.clear();
        (body.alerts || []).forEach(function (a) { alerts.set(a.id, a); });
        render();
      });
    }).catch(function (err) { showError("Could not load the alerts: " + err.message); });
  }
  function onAlert(ev) {
    var a;
    try { a = JSON.parse(ev.data); } catch (e) { return; }
    if (!a || !a.id) return;
    if (a.state === "open") alerts.set(a.id, a); else alerts.delete(a.id);
    render();
  }
  function connect() {
    if (board.dataset.hasFeed !== "true") { liveEl.textContent = "no live feed"; return; }
    var es = new EventSource("/v1/stream/alerts", { withCredentials: true });
    es.onopen = function () { liveEl.textContent = "live"; liveEl.className = "live on"; };
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        // refused (an expired session): try again after a pause, reloading the list
        liveEl.textContent = "disconnected"; liveEl.className = "live off";
        setTimeout(function () { load().then(connect); }, 5000);
      } else {
        liveEl.textContent = "reconnecting…"; liveEl.className = "live off";
      }
    };
    ["hotline.alert.raised", "hotline.alert.acked", "hotline.alert.resolved"].forEach(function (t) {
      es.addEventListener(t, onAlert);
    });
    es.addEventListener("reset", function () { load(); });
  }
  load().then(connect);
})();
