// Work-order page: status buttons, reclassify, problem code, province,
// follow-up, invalid mark, notes, acks of its alerts. The
// countdowns tick in ui.js.
(function () {
  "use strict";
  var H = window.hotlined;
  var card = document.getElementById("workorder");
  if (!card || !H) return;
  var id = card.dataset.id;
  var base = "/v1/workorders/" + encodeURIComponent(id);

  var actionError = document.getElementById("action-error");
  document.querySelectorAll("button[data-status]").forEach(function (b) {
    b.addEventListener("click", function () {
      var buttons = document.querySelectorAll("button[data-status]");
      buttons.forEach(function (x) { x.disabled = true; });
      var note = document.getElementById("note");
      H.post(base + "/status", { status: b.dataset.status, note: note ? note.value : "" },
        { "Idempotency-Key": id + "-" + b.dataset.status + "-" + Date.now() })
        .then(function (o) {
          var st = document.getElementById("status");
          st.textContent = H.word("status", o.status);
          st.dataset.status = o.status;
          st.className = "status status-" + o.status;
          location.reload(); // the allowed next steps and the history change too
        })
        .catch(function (err) {
          H.showError(actionError, H.t("statusfailed", { err: err.message }));
          buttons.forEach(function (x) { x.disabled = false; });
        });
    });
  });

  var rb = document.getElementById("reclassify-button");
  if (rb) {
    rb.addEventListener("click", function () {
      var sel = document.getElementById("new-class");
      var reason = document.getElementById("class-reason");
      var box = document.getElementById("class-error");
      rb.disabled = true;
      H.post(base + "/class", { class: sel.value, reason: reason.value })
        .then(function () { location.reload(); })
        .catch(function (err) {
          H.showError(box, H.t("classfailed", { err: err.message }));
          rb.disabled = false;
        });
    });
  }

  // The order's other actions: a button.act posts to base/<data-act> the
  // fields named by data-fields ("name=element-id,..."), then reloads (the
  // facts, the class and the history change); an error shows in its card.
  document.querySelectorAll("button.act").forEach(function (b) {
    b.addEventListener("click", function () {
      var body = {};
      (b.dataset.fields || "").split(",").forEach(function (pair) {
        var kv = pair.split("=");
        var f = kv[1] && document.getElementById(kv[1]);
        if (f) body[kv[0]] = f.value;
      });
      var box = b.closest("section") && b.closest("section").querySelector(".error");
      b.disabled = true;
      H.post(base + "/" + b.dataset.act, body)
        .then(function () { location.reload(); })
        .catch(function (err) { b.disabled = false; H.showError(box, H.t("actionfailed", { err: err.message })); });
    });
  });

  var ackError = document.getElementById("ack-error");
  document.querySelectorAll("button[data-ack]").forEach(function (b) {
    b.addEventListener("click", function () {
      b.disabled = true;
      H.post("/v1/alerts/" + encodeURIComponent(b.dataset.ack) + "/ack", {})
        .catch(function (err) { if (err.status !== 409) throw err; })
        .then(function () { var tr = b.closest("tr"); if (tr) tr.remove(); H.showError(ackError, ""); })
        .catch(function (err) {
          b.disabled = false;
          H.showError(ackError, H.t("ackfailed", { id: b.dataset.ack, err: err.message }));
        });
    });
  });
})();
