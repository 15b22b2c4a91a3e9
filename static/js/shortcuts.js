// Keyboard shortcuts for what people do all day: go to a section, put the cursor in the filters,
// turn the page of a list. Every shortcut is a row of the sheet (templates/_shortcuts.html) that
// says its keys (data-shortcut: one key, or two pressed one after the other, "g s") and what it
// does: go to the URL Django rendered (data-href), focus the first field of what a selector finds
// (data-focus), or follow the link it finds (data-follow). `?` shows the sheet, Escape closes it.
// Nothing fires while someone types in a field, nor with Ctrl, Alt or Meta held (the browser's own).
(function () {
  "use strict";

  var sheet = document.getElementById("shortcuts");
  if (!sheet || typeof sheet.showModal !== "function") return;

  // The first key of a two-key shortcut, while the second is awaited.
  var first = "";
  var firstTimer = 0;
  // What had the focus before the sheet opened: it gets it back when the sheet closes.
  var before = null;

  function typing(target) {
    if (!target || !target.closest) return false;
    return Boolean(target.isContentEditable || target.closest("input, textarea, select, [contenteditable]"));
  }

  function shortcut(keys) {
    var rows = sheet.querySelectorAll("[data-shortcut]");
    for (var index = 0; index < rows.length; index += 1) {
      if (rows[index].getAttribute("data-shortcut") === keys) return rows[index];
    }
    return null;
  }

  function startsShortcut(key) {
    var rows = sheet.querySelectorAll("[data-shortcut]");
    for (var index = 0; index < rows.length; index += 1) {
      if (rows[index].getAttribute("data-shortcut").indexOf(key + " ") === 0) return true;
    }
    return false;
  }

  // Does what the row says; false when there is nothing to do on this page (no filters, no next page).
  function run(row) {
    var href = row.getAttribute("data-href");
    if (href) {
      window.location.assign(href);
      return true;
    }
    var focus = row.getAttribute("data-focus");
    var region = focus && document.querySelector(focus);
    if (region) {
      var field = region.querySelector("input:not([type=hidden]), select, textarea");
      if (field) {
        field.focus();
        return true;
      }
      return false;
    }
    var follow = row.getAttribute("data-follow");
    var link = follow && document.querySelector(follow);
    if (link) {
      link.click();
      return true;
    }
    return false;
  }

  function openSheet() {
    before = document.activeElement;
    sheet.showModal();
    // The dialog's own first control (Close) takes the focus; say so for browsers that leave it.
    var close = sheet.querySelector("button");
    if (close && !sheet.contains(document.activeElement)) close.focus();
  }

  // The header's link to the sheet, for those who do not know the `?`: shown only where this script
  // runs (without it, the sheet cannot open).
  var opener = document.querySelector("[data-shortcuts-open]");
  if (opener) {
    opener.hidden = false;
    opener.addEventListener("click", function (event) {
      event.preventDefault();
      openSheet();
    });
  }

  sheet.addEventListener("close", function () {
    if (before && before.focus && document.contains(before)) before.focus();
    before = null;
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) return;
    if (sheet.open || typing(event.target)) return; // the open sheet closes itself on Escape
    var key = event.key;
    if (key === "?") {
      event.preventDefault();
      first = "";
      openSheet();
      return;
    }
    if (first) {
      var keys = first + " " + key;
      first = "";
      window.clearTimeout(firstTimer);
      var pair = shortcut(keys);
      if (pair && run(pair)) event.preventDefault();
      return;
    }
    if (startsShortcut(key)) {
      // The first of two keys: the second must follow within a moment, or it starts nothing.
      first = key;
      window.clearTimeout(firstTimer);
      firstTimer = window.setTimeout(function () {
        first = "";
      }, 1500);
      event.preventDefault();
      return;
    }
    var single = shortcut(key);
    if (single && run(single)) event.preventDefault();
  });
})();
