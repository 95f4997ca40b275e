/* triage review app: a few keyboard shortcuts, the hold and viewing keep-alives. Everything works without it. */
(function () {
  "use strict";
  function token() {
    var field = document.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }
  function typing(target) {
    return /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) || target.isContentEditable;
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) { return; }
    var rows = Array.prototype.slice.call(document.querySelectorAll("table[data-keys=rows] tbody tr"));
    if (event.key === "/") {
      var first = document.querySelector(".filters select, .filters input");
      if (first) { first.focus(); event.preventDefault(); }
      return;
    }
    if (!rows.length || (event.key !== "j" && event.key !== "k")) { return; }
    var current = rows.indexOf(document.activeElement && document.activeElement.closest("tr"));
    var next = event.key === "j" ? Math.min(rows.length - 1, current + 1) : Math.max(0, current - 1);
    var link = rows[next].querySelector("a");
    if (link) { link.focus(); event.preventDefault(); }
  });
  var viewing = document.querySelector("[data-viewing]");
  if (viewing && window.fetch) {
    window.setInterval(function () {
      fetch(viewing.getAttribute("data-viewing"), {method: "POST", headers: {"X-CSRF-Token": token()}, credentials: "same-origin"})
        .catch(function () {});
    }, 60000);
  }
  var hold = document.querySelector("[data-hold]");
  if (hold && window.fetch) {
    window.setInterval(function () {
      fetch(hold.getAttribute("data-hold"), {method: "POST", headers: {"X-CSRF-Token": token()}, credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (data && !data.held) { hold.textContent = "Someone else holds this case now: reload before acting."; hold.className = "hold hold-other"; }
        })
        .catch(function () {});
    }, 60000);
  }
  // Blanks in the draft: keep the count and the marked preview in step with the text as staff type.
  var body = document.getElementById("reply-body");
  var preview = document.querySelector("[data-draft-preview]");
  var count = document.querySelector("[data-blanks-count]");
  if (body && preview && count) {
    var blankPattern = /\[\[to fill:[ \t]*([^\[\]\n]*?)[ \t]*\]\]/g;
    var subject = document.getElementById("reply-subject");
    var mark = function (label, text) {
      var node = document.createElement("mark");
      node.className = "blank";
      node.title = "to fill: " + label;
      node.textContent = text;
      return node;
    };
    var refresh = function () {
      var text = body.value, labels = [], start = 0, match;
      preview.textContent = "";
      blankPattern.lastIndex = 0;
      while ((match = blankPattern.exec(text)) !== null) {
        preview.appendChild(document.createTextNode(text.slice(start, match.index)));
        preview.appendChild(mark(match[1] || "?", match[0]));
        labels.push(match[1] || "?");
        start = match.index + match[0].length;
      }
      preview.appendChild(document.createTextNode(text.slice(start)));
      var inSubject = subject ? (subject.value.match(blankPattern) || []).length : 0;
      var total = labels.length + inSubject;
      count.textContent = "";
      count.className = "blanks-count" + (total ? "" : " blanks-none");
      if (!total) { count.textContent = "No blanks to fill."; return; }
      count.appendChild(document.createTextNode(total + " blank" + (total === 1 ? "" : "s") + " to fill before approving: "));
      labels.forEach(function (label, index) {
        if (index) { count.appendChild(document.createTextNode("; ")); }
        count.appendChild(mark(label, label));
      });
    };
    body.addEventListener("input", refresh);
    if (subject) { subject.addEventListener("input", refresh); }
  }
}());
