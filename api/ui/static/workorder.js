// Work-order page: deadline countdowns and the status buttons.
(function () {
  "use strict";
  var card = document.getElementById("workorder");
  if (!card) return;
  var id = card.dataset.id;

  function fmt(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    s = s % 60;
    var pad = function (n) { return n < 10 ? "0" + n : "" + n; };
    return (d ? d + "d " : "") + h + "h " + pad(m) + "m " + pad(s) + "s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = Date.parse(el.dataset.due) - now;
      el.textContent = left >= 0 ? fmt(left) + " left" : "overdue by " + fmt(left);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 15 * 60 * 1000);
    });
  }
  tick();
  setInterval(tick, 1000);

  var errorBox = document.getElementById("action-error");
  document.querySelectorAll("button[data-status]").forEach(function (b) {
    b.addEventListener("click", function () {
      var buttons = document.querySelectorAll("button[data-status]");
      buttons.forEach(function (x) { x.disabled = true; });
      var note = document.getElementById("note");
      fetch("/v1/workorders/" + encodeURIComponent(id) + "/status", {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-Hotlined-CSRF": "1",
          "Idempotency-Key": id + "-" + b.dataset.status + "-" + Date.now()
        },
        body: JSON.stringify({ status: b.dataset.status, note: note ? note.value : "" })
      }).then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (body) {
          if (!resp.ok) throw new Error(body.error || ("HTTP " + resp.status));
          var st = document.getElementById("status");
          st.textContent = body.status;
          st.className = "status status-" + body.status;
          location.reload(); // the allowed next steps and the history change too
        });
      }).catch(function (err) {
        errorBox.textContent = "Could not change the status: " + err.message;
        errorBox.hidden = false;
        buttons.forEach(function (x) { x.disabled = false; });
      });
    });
  });
})();
