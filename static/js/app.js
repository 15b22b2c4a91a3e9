// prefetch_ui: the little behaviour the pages need beyond htmx. Everything is wired here by
// data- attributes, never by inline handlers, so the pages work under a Content-Security-Policy
// that forbids inline script.
(function () {
  "use strict";

  // <select data-autosubmit> sends its form when a choice is made (the display-zone picker).
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) {
      select.form.submit();
    }
  });

  // Typing in (or choosing a file for) a field marked data-source selects that source's radio
  // button: the new-job form's text box, file and OSS address. Only "input" counts: a text box
  // also fires "change" when it loses focus, which must not take the choice back from a file.
  document.addEventListener("input", function (event) {
    var field = event.target;
    var source = field.dataset && field.dataset.source;
    if (source && field.form && field.form.elements.source) {
      field.form.elements.source.value = source;
    }
  });

  // <a data-close="#panel">: with htmx, empty that panel instead of following the link (the plan
  // editor's Cancel); without htmx the link leads back to the page.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-close]");
    if (!link || !window.htmx) return;
    var panel = document.querySelector(link.getAttribute("data-close"));
    if (panel) {
      event.preventDefault();
      panel.innerHTML = "";
    }
  });

  // A panel marked data-reveal appears below long tables: bring it into view when htmx fills it,
  // and put the cursor in its first field.
  document.addEventListener("htmx:afterSwap", function (event) {
    var panel = event.detail && event.detail.target;
    if (!panel || !panel.hasAttribute || !panel.hasAttribute("data-reveal") || !panel.firstElementChild) return;
    panel.scrollIntoView({ block: "start" });
    var field = panel.querySelector("input:not([type=hidden]), select, textarea");
    if (field) field.focus({ preventScroll: true });
  });

  // Polled elements (marked data-poll; their trigger comes from the poll_every template tag) do
  // not poll while their tab is hidden: htmx's timer keeps ticking, but no request leaves. Shown
  // again, each asks at once (the "poll-now" event in its trigger), then on its timer as before.
  // Done here, not with a trigger filter, which htmx would have to eval.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (document.visibilityState === "hidden" && elt && elt.hasAttribute && elt.hasAttribute("data-poll")) {
      event.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    document.querySelectorAll("[data-poll]").forEach(function (elt) {
      window.htmx.trigger(elt, "poll-now");
    });
  });
  // A poll answered 286 has stopped for good (nothing left on the page can change by itself):
  // showing the tab again must not ask once more.
  document.addEventListener("htmx:afterRequest", function (event) {
    var detail = event.detail || {};
    if (detail.xhr && detail.xhr.status === 286 && detail.elt && detail.elt.removeAttribute) {
      detail.elt.removeAttribute("data-poll");
    }
  });

  // A polled region marked data-keep-open (the overview): the <details> a reader opened stay open
  // when htmx swaps in the fresh copy, which arrives with every <details> closed.
  var keptOpen = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    var region = event.detail && event.detail.target;
    if (!region || !region.hasAttribute || !region.hasAttribute("data-keep-open")) return;
    keptOpen = Array.prototype.map.call(region.querySelectorAll("details[open][id]"), function (details) {
      return details.id;
    });
  });
  document.addEventListener("htmx:afterSettle", function () {
    keptOpen.forEach(function (id) {
      var details = document.getElementById(id);
      if (details) details.open = true;
    });
    keptOpen = [];
  });
})();
