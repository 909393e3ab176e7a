// Small enhancements for the chart; every page works without this file.
(function () {
  "use strict";
  // Section menu: open as a sidebar on wide screens, a compact menu on phones.
  var menu = document.querySelector("[data-section-menu]");
  if (menu && window.matchMedia) {
    var wide = window.matchMedia("(min-width: 60em)");
    var apply = function () {
      if (wide.matches) { menu.setAttribute("open", ""); }
      else { menu.removeAttribute("open"); }
    };
    apply();
    if (wide.addEventListener) { wide.addEventListener("change", apply); }
  }
  // Stacked tables on phones: each cell is labelled with its column's name.
  var tables = document.querySelectorAll(".chart-table");
  Array.prototype.forEach.call(tables, function (table) {
    var heads = table.querySelectorAll("thead th");
    if (!heads.length) { return; }
    var names = Array.prototype.map.call(heads, function (th) { return th.textContent.trim(); });
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (row) {
      Array.prototype.forEach.call(row.children, function (cell, index) {
        if (cell.tagName === "TD" && names[index]) { cell.setAttribute("data-label", names[index]); }
      });
    });
  });
  // Tables wider than the screen scroll in their own box: let the keyboard reach it too.
  var scrollers = document.querySelectorAll(".table-scroll");
  Array.prototype.forEach.call(scrollers, function (box) {
    if (box.scrollWidth > box.clientWidth + 1) {
      var caption = box.querySelector("caption");
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", caption ? caption.textContent.trim() : "Tabel");
    }
  });
  // Print view: a print button (hidden without JavaScript: use the browser's print command).
  var button = document.querySelector("[data-print]");
  if (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  }
})();
