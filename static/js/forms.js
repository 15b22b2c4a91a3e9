// prefetch_ui: the forms' behaviour beyond htmx (the plan editor in its row, the plan generator's
// modes). Wired by data- attributes, never by inline handlers (the Content-Security-Policy).
(function () {
  "use strict";

  // -- The plan editor, in the job page's table -------------------------------------------------
  // Edit (data-editor-open) asks for the editor and htmx puts it right after the plan's row, as a
  // row of its own (tr[data-editor-for=<plan id>]). One editor at a time: a second Edit on the same
  // plan goes back to the open one, on another plan it closes the open one first.

  function editorRows() {
    return Array.prototype.slice.call(document.querySelectorAll("tr[data-editor-for]"));
  }

  function planRow(planId) {
    var rows = document.querySelectorAll("tr[data-plan]");
    for (var index = 0; index < rows.length; index++) {
      if (rows[index].getAttribute("data-plan") === planId) return rows[index];
    }
    return null;
  }

  function firstField(row) {
    return row.querySelector("input:not([type=hidden]), select, textarea") || row.querySelector("a, button");
  }

  function closeEditor(row) {
    var plan = planRow(row.getAttribute("data-editor-for"));
    var holder = row.closest("[data-detached-editor]");
    row.remove();
    if (holder) holder.remove();
    var edit = plan && plan.querySelector("[data-editor-open]");
    if (edit) edit.focus({ preventScroll: true });
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var button = event.detail && event.detail.elt;
    if (!button || !button.hasAttribute || !button.hasAttribute("data-editor-open")) return;
    var row = button.closest("tr[data-plan]");
    var planId = row && row.getAttribute("data-plan");
    editorRows().forEach(function (editor) {
      if (editor.getAttribute("data-editor-for") === planId) {
        event.preventDefault();
        var field = firstField(editor);
        if (field) field.focus();
      } else {
        closeEditor(editor);
      }
    });
  });

  // The editor just drawn (opened, or drawn again with its errors): in view, the cursor in it.
  // Only as far as it takes ("nearest"): the page never jumps to its foot.
  document.addEventListener("htmx:afterSwap", function (event) {
    // The element that asked (event.detail.elt is the one swapped in).
    var elt = event.detail && event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!elt || !elt.closest) return;
    if (!elt.hasAttribute("data-editor-open") && !elt.closest("tr[data-editor-for]")) return;
    var editor = document.querySelector("tr[data-editor-for]"); // saved: there is none left
    if (!editor) return;
    editor.scrollIntoView({ block: "nearest" });
    var field = editor.querySelector("[aria-invalid=true]") || firstField(editor);
    if (field) field.focus({ preventScroll: true });
  });

  // Cancel (and Close): with htmx, the editor row goes and the plan's row is as it was; without,
  // the link leads back to the job page.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-editor-close]");
    var row = link && link.closest("tr[data-editor-for]");
    if (!row || !window.htmx) return;
    event.preventDefault();
    closeEditor(row);
  });

  // Escape in the editor is its Cancel (a date picker's own popup takes its Escape first).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented || !window.htmx) return;
    var row = event.target.closest && event.target.closest("tr[data-editor-for]");
    if (!row) return;
    event.preventDefault();
    closeEditor(row);
  });

  // The live region is drawn again whole now and then (a poll after its list of plans changed
  // shape, a button): the editor row, and what is typed in it, would go with it. It is kept, and
  // put back after its plan's row; when that row has left the page (deleted, another page), at
  // the foot of the page (#plan-editor), so nothing typed is lost.
  var keptEditors = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    keptEditors = editorRows().filter(function (row) {
      return !(target && row.contains(target)); // the editor's own answer replaces it: not kept
    });
  });

  function putBack() {
    keptEditors.forEach(function (row) {
      if (row.isConnected) return;
      var plan = planRow(row.getAttribute("data-editor-for"));
      if (plan) {
        plan.after(row);
      } else {
        var foot = document.getElementById("plan-editor");
        if (!foot) return;
        var table = document.createElement("table");
        table.className = "grid plans";
        table.setAttribute("data-detached-editor", "");
        table.appendChild(document.createElement("tbody")).appendChild(row);
        foot.appendChild(table);
      }
      if (window.htmx) window.htmx.process(row); // htmx let go of it when the region was swapped
    });
    keptEditors = keptEditors.filter(function (row) {
      return !row.isConnected;
    });
  }
  document.addEventListener("htmx:afterSwap", putBack);
  document.addEventListener("htmx:afterSettle", putBack);
})();

// -- The plan generator: only the chosen mode's fields ------------------------------------------
// Its radio buttons (inside [data-gen-modes]) choose a mode; each mode's fields are a fieldset
// marked data-gen-mode. Without JS every fieldset shows, each under its mode's name.
(function () {
  "use strict";

  function showChosenModes() {
    document.querySelectorAll("[data-gen-modes]").forEach(function (modes) {
      var chosen = modes.querySelector("input[name=gen_mode]:checked");
      var scope = modes.parentElement;
      if (!chosen || !scope) return;
      scope.querySelectorAll("[data-gen-mode]").forEach(function (fields) {
        fields.hidden = fields.getAttribute("data-gen-mode") !== chosen.value;
      });
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "gen_mode") showChosenModes();
  });
  // The builder is drawn again by htmx on every change: its generator comes back with both shown.
  document.addEventListener("htmx:afterSwap", showChosenModes);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", showChosenModes);
  } else {
    showChosenModes();
  }
})();
