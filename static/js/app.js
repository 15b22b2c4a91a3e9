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

  // A form marked data-preview="<id>" shows what the form of that id will do (the resume's pacing,
  // whose caps and choices that form sends as they were when the page was drawn). Once a field of
  // the preview is edited, the confirmation would do something other than what the page shows:
  // its buttons are disabled, and its note marked data-preview-stale shown, until it is drawn again.
  document.addEventListener("input", function (event) {
    var form = event.target.form;
    var id = form && form.dataset && form.dataset.preview;
    var confirmation = id && document.getElementById(id);
    if (!confirmation) return;
    confirmation.querySelectorAll("button").forEach(function (button) {
      button.disabled = true;
    });
    var note = confirmation.querySelector("[data-preview-stale]");
    if (note) note.hidden = false;
  });

  // Polled elements (marked data-poll; their trigger comes from the poll_every template tag) do
  // not poll while their tab is hidden: htmx's timer keeps ticking, but no request leaves. Shown
  // again, each asks at once (the "poll-now" event in its trigger), then on its timer as before.
  // Done here, not with a trigger filter, which htmx would have to eval.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (document.visibilityState === "hidden" && isPoll(event.detail && event.detail.elt)) {
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

  // -- Refused and failed requests -------------------------------------------------------------
  // htmx swaps no 4xx/5xx answer and shows nothing when the server cannot be reached: a button
  // would seem to do nothing. Every such failure is told in the one notice of _base.html: the
  // server's own sentence when it answered in plain text (prefetch_ui.prefetch.views.htmx.refusal),
  // else only its status, never an HTML page. A failing poll says once that live updates are
  // paused (it keeps polling), and that clears itself when a later request succeeds. A refusal
  // stays until dismissed or replaced by the next one: the operator may have looked away.

  // A poll that hangs would hold back every later one (htmx queues a request behind the one in
  // flight from the same element), and live updates would stop without a word.
  var POLL_TIMEOUT_SECONDS = 30;
  // What is kept of a plain-text answer: a refusal is a sentence or two, not a document.
  var REASON_MAX_LENGTH = 300;
  var noticeKind = ""; // what the notice shows: "", "refusal" or "paused"
  // Live updates were said to be paused and no request has succeeded since: the operator who
  // dismissed that is not told again at the next failed poll.
  var pauseTold = false;

  function isPoll(elt) {
    return Boolean(elt && elt.hasAttribute && elt.hasAttribute("data-poll"));
  }

  function showNotice(kind, message) {
    var notice = document.getElementById("request-notice");
    if (!notice) return;
    notice.querySelector("[data-notice-text]").textContent = message;
    notice.setAttribute("data-shown", kind);
    notice.hidden = false;
    noticeKind = kind;
  }

  function clearNotice() {
    var notice = document.getElementById("request-notice");
    if (!notice) return;
    notice.hidden = true;
    notice.querySelector("[data-notice-text]").textContent = "";
    notice.removeAttribute("data-shown");
    noticeKind = "";
  }

  // The server's own sentence when its answer is plain text; "" for an HTML page or nothing.
  function serverReason(xhr) {
    var type = (xhr && xhr.getResponseHeader("Content-Type")) || "";
    if (type.indexOf("text/plain") !== 0) return "";
    var reason = (xhr.responseText || "").trim();
    return reason.length > REASON_MAX_LENGTH ? reason.slice(0, REASON_MAX_LENGTH - 1) + "…" : reason;
  }

  // elt's request failed: `refused` says so to whoever clicked, `paused` (a clause) to whoever watches.
  function requestFailed(elt, refused, paused) {
    if (!isPoll(elt)) {
      showNotice("refusal", refused);
    } else if (!noticeKind && !pauseTold) {
      // Once: the next failed polls (one every few seconds) leave the notice as it is, and a
      // refusal still shown is not replaced by it.
      showNotice("paused", "Live updates paused: " + paused + "; retrying.");
      pauseTold = true;
    }
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var status = xhr ? xhr.status : 0;
    var reason = serverReason(xhr);
    var refused = reason || (status >= 500
      ? "The server failed on this request (HTTP " + status + "). Try again in a moment; reload the page to see what was done."
      : "The server refused this request (HTTP " + status + ").");
    requestFailed(event.detail.elt, refused, reason.replace(/\.$/, "") || "the server answered HTTP " + status);
  });
  document.addEventListener("htmx:sendError", function (event) {
    requestFailed(
      event.detail.elt,
      "The server could not be reached, so the request may not have been carried out. Check the connection, reload the page and try again.",
      "the server cannot be reached"
    );
  });
  document.addEventListener("htmx:timeout", function (event) {
    requestFailed(
      event.detail.elt,
      "The server did not answer in time. Reload the page to see whether the request was carried out.",
      "the server did not answer within " + POLL_TIMEOUT_SECONDS + " seconds"
    );
  });
  document.addEventListener("htmx:configRequest", function (event) {
    if (isPoll(event.detail.elt) && !event.detail.timeout) event.detail.timeout = POLL_TIMEOUT_SECONDS * 1000;
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    // 2xx (204 and 286 too) and 3xx; a request that never got an answer has status 0.
    if (!xhr || xhr.status < 200 || xhr.status >= 400) return;
    pauseTold = false;
    if (noticeKind === "paused") clearNotice();
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-notice-dismiss]")) clearNotice();
  });
})();
