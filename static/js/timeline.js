// The timeline's bars: a click, a tap or Enter on a bar shows the plan's facts beside it (each bar's
// <template data-facts>, drawn by the server) instead of following its link to the job; Escape, the
// Close button or a click elsewhere closes them. Without this script a bar is still a link to its
// job, with its facts in the native tooltip. Positions are set through the CSSOM (element.style),
// which the Content-Security-Policy allows; the markup has no style attribute.
(function () {
  "use strict";

  var openPlan = ""; // the ESA id of the plan whose facts show, "" for none
  var openedFrom = null; // the bar that opened them, to give the focus back on Escape

  function panel() {
    return document.getElementById("plan-facts");
  }

  function barOf(target) {
    return target && target.closest ? target.closest("svg.timeline a[data-facts]") : null;
  }

  function place(facts, bar) {
    var parent = facts.offsetParent || document.body;
    var frame = parent.getBoundingClientRect();
    var box = (bar.querySelector("rect") || bar).getBoundingClientRect();
    var width = facts.offsetWidth;
    var room = document.documentElement.clientWidth;
    // Below the bar, its left edge at the bar's unless that would run off the screen.
    var left = Math.max(4, Math.min(box.left, room - width - 4));
    facts.style.left = left - frame.left + "px";
    facts.style.top = box.bottom - frame.top + 6 + "px";
  }

  // Show `bar`'s facts; `focus` moves the keyboard into them (not when a poll redrew the bar).
  function open(bar, focus) {
    var facts = panel();
    var source = document.getElementById(bar.getAttribute("data-facts"));
    if (!facts || !source) return;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link plan-facts-close";
    close.setAttribute("data-facts-close", "");
    close.textContent = "Close";
    facts.replaceChildren(close, source.content.cloneNode(true));
    facts.hidden = false;
    openPlan = bar.getAttribute("data-plan");
    document.querySelectorAll("svg.timeline a[data-facts].facts-open").forEach(function (other) {
      other.classList.remove("facts-open");
    });
    bar.classList.add("facts-open");
    place(facts, bar);
    if (focus) {
      openedFrom = bar;
      facts.focus({ preventScroll: true });
    }
  }

  function shut(refocus) {
    var facts = panel();
    if (!facts || facts.hidden) return;
    facts.hidden = true;
    facts.replaceChildren();
    document.querySelectorAll("svg.timeline a.facts-open").forEach(function (bar) {
      bar.classList.remove("facts-open");
    });
    if (refocus && openedFrom && document.contains(openedFrom)) openedFrom.focus();
    openPlan = "";
    openedFrom = null;
  }

  document.addEventListener("click", function (event) {
    var bar = barOf(event.target);
    if (bar) {
      // A modified click (new tab, new window) still follows the link to the job.
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button) return;
      event.preventDefault();
      if (openPlan === bar.getAttribute("data-plan")) shut(false);
      else open(bar, true);
      return;
    }
    var facts = panel();
    if (!facts || facts.hidden) return;
    if (event.target.closest && event.target.closest("[data-facts-close]")) shut(true);
    else if (!facts.contains(event.target)) shut(false);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && openPlan) {
      shut(true);
    } else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      // Enter on a focused bar: its facts, as a click gives them (not the link's page).
      var bar = barOf(event.target);
      if (bar) {
        event.preventDefault();
        open(bar, true);
      }
    }
  });

  // A poll redrew the timeline: the facts that showed are drawn again from the new bar (they may
  // have changed), or closed if that plan left the window.
  document.addEventListener("htmx:afterSettle", function () {
    if (!openPlan) return;
    var bar = document.querySelector('svg.timeline a[data-facts][data-plan="' + openPlan + '"]');
    if (bar) open(bar, false);
    else shut(false);
  });

  // -- Drag to zoom ------------------------------------------------------------------------------
  // With a mouse, a drag across the picture (not starting on a bar) leads to the window under it:
  // the same address a zoom link has (start and end as the window's inputs take them, in the
  // zone the page shows). Touch keeps its own gestures (scrolling); phones use the zoom links.
  var DRAG_MIN_PX = 8;
  var drag = null; // {frame, svg, from, band}

  function localParts(text) {
    var match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(text || "");
    if (!match) return null;
    // Wall-clock arithmetic: the numbers are read as UTC only so the browser's own zone plays no part.
    return Date.UTC(+match[1], +match[2] - 1, +match[3], +match[4], +match[5]);
  }

  function localText(ms) {
    var moment = new Date(ms);
    function two(number) {
      return String(number).padStart(2, "0");
    }
    return moment.getUTCFullYear() + "-" + two(moment.getUTCMonth() + 1) + "-" + two(moment.getUTCDate()) +
      "T" + two(moment.getUTCHours()) + ":" + two(moment.getUTCMinutes());
  }

  function dragBand(frame) {
    var band = frame.querySelector(".tl-drag");
    if (!band) {
      band = document.createElement("div");
      band.className = "tl-drag";
      band.setAttribute("data-testid", "timeline-drag");
      frame.appendChild(band);
    }
    return band;
  }

  function showBand(x) {
    var box = drag.svg.getBoundingClientRect();
    var frameBox = drag.frame.getBoundingClientRect();
    var left = Math.max(box.left, Math.min(drag.from, x));
    var right = Math.min(box.right, Math.max(drag.from, x));
    drag.band.hidden = false;
    drag.band.style.left = left - frameBox.left + "px";
    drag.band.style.width = right - left + "px";
    drag.band.style.top = box.top - frameBox.top + "px";
    drag.band.style.height = box.height + "px";
  }

  document.addEventListener("pointerdown", function (event) {
    if (event.pointerType !== "mouse" || event.button !== 0 || barOf(event.target)) return;
    var svg = event.target.closest && event.target.closest("svg.timeline");
    var frame = svg && svg.closest("[data-timeline]");
    if (!frame || localParts(frame.getAttribute("data-window-start")) === null) return;
    event.preventDefault(); // no text selection while dragging
    drag = { frame: frame, svg: svg, from: event.clientX, band: dragBand(frame) };
  });

  document.addEventListener("pointermove", function (event) {
    if (drag && Math.abs(event.clientX - drag.from) >= DRAG_MIN_PX) showBand(event.clientX);
  });

  document.addEventListener("pointerup", function (event) {
    if (!drag) return;
    var done = drag;
    drag = null;
    done.band.hidden = true;
    if (Math.abs(event.clientX - done.from) < DRAG_MIN_PX) return; // a click, not a drag
    var box = done.svg.getBoundingClientRect();
    var start = localParts(done.frame.getAttribute("data-window-start"));
    var end = localParts(done.frame.getAttribute("data-window-end"));
    function at(x) {
      var fraction = Math.max(0, Math.min(1, (x - box.left) / box.width));
      return start + fraction * (end - start);
    }
    var from = at(Math.min(done.from, event.clientX));
    var to = Math.max(at(Math.max(done.from, event.clientX)), from + 60000);
    var query = new URLSearchParams(window.location.search);
    ["span", "page", "poll", "v"].forEach(function (key) {
      query.delete(key);
    });
    query.set("start", localText(from));
    query.set("end", localText(to));
    window.location.assign("?" + query.toString());
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && drag) {
      drag.band.hidden = true;
      drag = null;
    }
  });

  window.addEventListener("resize", function () {
    var bar = openPlan && document.querySelector("svg.timeline a.facts-open");
    if (bar) place(panel(), bar);
  });
})();
