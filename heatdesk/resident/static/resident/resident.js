/* HeatDesk resident pages: small progressive enhancements; every page works without them. */
(function () {
  "use strict";
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  // One submission per form: a second tap while the first is on its way does nothing.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.target === "_blank") return;  // opens beside this page, which stays usable
    if (form.dataset.busy) { event.preventDefault(); return; }
    form.dataset.busy = "1";
    var submitter = event.submitter;
    if (submitter && submitter.name) {
      // A disabled button is left out of the submission, so carry its value in a hidden input.
      var keep = document.createElement("input");
      keep.type = "hidden";
      keep.name = submitter.name;
      keep.value = submitter.value;
      keep.setAttribute("data-submitter", "");
      form.appendChild(keep);
    }
    each(form.querySelectorAll("button"), function (button) { button.disabled = true; });
    if (submitter) submitter.setAttribute("aria-busy", "true");
  });

  // Back through the history restores a page as it was left: make its forms usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    each(document.forms, function (form) {
      delete form.dataset.busy;
      each(form.querySelectorAll("[data-submitter]"), function (el) { el.remove(); });
      each(form.querySelectorAll("button"), function (button) {
        if (!button.dataset.counting) button.disabled = false;
        button.removeAttribute("aria-busy");
      });
    });
  });

  // The SMS button waits out the resend interval.
  each(document.querySelectorAll("[data-wait]"), function (button) {
    var left = parseInt(button.dataset.wait, 10);
    var label = button.textContent;
    var tick = function () {
      if (left <= 0) {
        button.disabled = false;
        delete button.dataset.counting;
        button.textContent = label;
        return;
      }
      button.disabled = true;
      button.dataset.counting = "1";
      button.textContent = button.dataset.waitLabel + " (" + left + "s)";
      left -= 1;
      window.setTimeout(tick, 1000);
    };
    tick();
  });

  // A payment's result page follows the order until it is paid, failed or closed.
  each(document.querySelectorAll("[data-poll]"), function (box) {
    var url = box.getAttribute("data-poll");
    var label = box.querySelector("[data-status-label]");
    var tries = 0;
    var poll = function () {
      tries += 1;
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.json() : null; })
        .then(function (state) {
          if (state && label) {
            label.textContent = state.status_label;
            label.className = "badge badge--" + state.status;
          }
          if (state && state.final) {
            box.setAttribute("data-phase", state.status);
            box.removeAttribute("data-poll");
            var live = document.getElementById("live");
            if (live) live.textContent = state.status_label;
            return;
          }
          if (tries < 300) window.setTimeout(poll, tries < 30 ? 2000 : 5000);
        })
        .catch(function () { if (tries < 300) window.setTimeout(poll, 5000); });
    };
    window.setTimeout(poll, 1500);
  });

  // Land keyboard and screen-reader users on the first field that needs fixing.
  var invalid = document.querySelector("[aria-invalid='true']");
  var summary = document.getElementById("form-errors");
  if (invalid) invalid.focus();
  else if (summary) summary.focus();

  // Toasts are announced through the live region (text present at load is not announced).
  var live = document.getElementById("live");
  var toasts = document.querySelectorAll("[data-toast]");
  if (live && toasts.length) {
    each(toasts, function (toast) { toast.setAttribute("aria-hidden", "true"); });
    window.setTimeout(function () {
      live.textContent = Array.prototype.map.call(toasts, function (t) { return t.textContent; }).join(" ");
    }, 150);
  }
})();
