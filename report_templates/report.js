// Progressive enhancement only: the report reads fully without this script.
// Filters findings and timeline rows by severity rank and container; opens <details> for printing.
(function () {
  "use strict";
  var targets = { finding: "article.finding", tl: "tr.tl" };

  function apply(bar) {
    var rank = Number(bar.querySelector("[data-filter=rank]").value || 0);
    var container = bar.querySelector("[data-filter=container]").value;
    var section = bar.closest("section");
    var items = section.querySelectorAll(targets[bar.getAttribute("data-filter-for")]);
    var shown = 0;
    items.forEach(function (item) {
      var visible = Number(item.getAttribute("data-rank")) >= rank &&
        (container === "" || item.getAttribute("data-container") === container);
      item.hidden = !visible;
      if (visible) { shown += 1; }
    });
    section.querySelectorAll("tr.window-marker").forEach(function (row) {
      row.hidden = container !== "" && shown === 0;
    });
    bar.querySelector(".shown").textContent = shown + " of " + items.length + " shown";
  }

  document.querySelectorAll(".filters[data-filter-for]").forEach(function (bar) {
    bar.hidden = false;
    bar.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { apply(bar); });
    });
    apply(bar);
  });

  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();
