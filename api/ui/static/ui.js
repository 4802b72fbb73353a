// Shared by the pages: the catalogue's strings (body[data-strings], from
// api/i18n.go), times in the configured zone with its offset, live
// countdowns, and JSON posts with the session cookie.
(function () {
  "use strict";
  var S = {};
  try { S = JSON.parse(document.body.dataset.strings || "{}"); } catch (e) { S = {}; }
  var words = S.words || {};

  // t returns the string key with {name} placeholders filled from vars.
  function t(key, vars) {
    var s = S[key] !== undefined ? S[key] : key;
    return s.replace(/\{(\w+)\}/g, function (m, k) { return vars && vars[k] !== undefined ? vars[k] : m; });
  }
  // word names an identifier of a kind (class, status, stage, level, ...):
  // the catalogue's word, else the id with spaces for underscores.
  function word(kind, id) {
    if (!id) return "";
    var w = words[kind] && words[kind][id];
    return w || String(id).replace(/_/g, " ");
  }

  var parts = null;
  try {
    parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: S.tz || "UTC", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "longOffset"
    });
  } catch (e) { parts = null; }
  // time formats an RFC 3339 time in the configured zone as
  // "2026-11-30 14:05:09 +08:00", like the server's pages.
  function time(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d)) return iso;
    if (!parts) return d.toISOString();
    var p = {};
    parts.formatToParts(d).forEach(function (x) { p[x.type] = x.value; });
    var off = (p.timeZoneName || "GMT").replace("GMT", "") || "+00:00";
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second + " " + off;
  }
  // duration: "1天2小时05分07秒" / "1d 2h 05m 07s".
  function duration(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    s = s % 60;
    var pad = function (n) { return n < 10 ? "0" + n : "" + n; };
    return (d ? d + t("d") : "") + (d || h ? h + t("h") : "") + pad(m) + t("m") + pad(s) + t("s");
  }
  // tick refreshes every [data-due] (time left, then overdue) and
  // [data-since] (waiting time) on the page.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = Date.parse(el.dataset.due) - now;
      if (isNaN(left)) return;
      el.textContent = left >= 0 ? t("left", { t: duration(left) }) : t("overdue", { t: duration(left) });
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 15 * 60 * 1000);
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var ago = now - Date.parse(el.dataset.since);
      if (!isNaN(ago)) el.textContent = t("waiting", { t: duration(ago) });
    });
  }
  // post sends JSON with the session cookie and the CSRF header; it
  // resolves with the body, or rejects with the API's error text.
  function post(url, body, extraHeaders) {
    var headers = { "Content-Type": "application/json", "X-Hotlined-CSRF": "1" };
    Object.keys(extraHeaders || {}).forEach(function (k) { headers[k] = extraHeaders[k]; });
    return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: JSON.stringify(body || {}) })
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (b) {
          if (!resp.ok) { var e = new Error(b.error || ("HTTP " + resp.status)); e.status = resp.status; throw e; }
          return b;
        });
      });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function showError(box, msg) {
    if (!box) return;
    box.textContent = msg || "";
    box.hidden = !msg;
  }
  tick();
  setInterval(tick, 1000);
  window.hotlined = { t: t, word: word, time: time, duration: duration, tick: tick, post: post, el: el, showError: showError, lang: S.lang };
})();
