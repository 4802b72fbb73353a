// Work-order page: status buttons, reclassify, acks of its alerts. The
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

  var nb = document.getElementById("note-button");
  if (nb) {
    nb.addEventListener("click", function () {
      nb.disabled = true;
      H.post(base + "/notes", { text: document.getElementById("note-text").value })
        .then(function () { location.reload(); })
        .catch(function (err) { nb.disabled = false; H.showError(actionError, err.message); });
    });
  }

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
