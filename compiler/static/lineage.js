// The lineage page of `orch graph`: draws the elements orch laid out, shows an
// asset's details on hover, and filters by the search box. No network access.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("orch-data").textContent);
  var colors = data.style;
  var cy = cytoscape({
    container: document.getElementById("graph"),
    elements: data.elements,
    layout: { name: "preset", fit: true, padding: 30 },
    textureOnViewport: true,
    hideEdgesOnViewport: data.elements.length > 3000,
    minZoom: 0.02,
    maxZoom: 3,
    style: [
      { selector: "node", style: {
          "label": "data(label)", "background-color": "data(color)", "shape": "round-rectangle",
          "width": 190, "height": 34, "font-size": 12, "color": "#fff", "text-valign": "center",
          "text-halign": "center", "text-wrap": "ellipsis", "text-max-width": 180,
          "border-width": 0, "min-zoomed-font-size": 6 } },
      { selector: "node[?critical]", style: { "border-width": 4, "border-color": colors.critical } },
      { selector: "node[?box]", style: {
          "label": "data(label)", "background-color": "#f5f7fa", "background-opacity": 1,
          "border-width": 1, "border-color": "#cbd2d9", "shape": "round-rectangle", "color": "#1f2933",
          "text-valign": "top", "text-halign": "center", "font-size": 13, "font-weight": 600,
          "padding": 14, "text-margin-y": -6, "text-max-width": 2000, "text-wrap": "none" } },
      { selector: "edge", style: {
          "width": 1.4, "line-color": "#9aa5b1", "target-arrow-color": "#9aa5b1",
          "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 } },
      { selector: "edge[?cross]", style: {
          "width": 2.6, "line-color": colors.cross, "target-arrow-color": colors.cross, "line-style": "dashed" } },
      { selector: ".faded", style: { "opacity": 0.15 } },
      { selector: ".match", style: { "border-width": 4, "border-color": "#1f2933" } }
    ]
  });

  var tip = document.getElementById("tip");
  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function row(term, value) {
    return value ? "<dt>" + term + "</dt><dd>" + esc(value) + "</dd>" : "";
  }
  cy.on("mouseover", "node[!box]", function (event) {
    var d = event.target.data();
    var html = "<h3>" + esc(d.name) + (d.critical ? ' <span class="badge critical">critical</span>' : "") +
      "</h3><dl>" + row("key", d.key) + row("pipeline", d.pipeline) + row("layer", d.layer) +
      row("schedule", d.schedule) + row("SLA", d.sla) + row("freshness", d.freshness) +
      row("owner", d.owner) + row("checks", d.checks.join("; ")) + row("defined at", d.origin) + "</dl>";
    d.notes.forEach(function (note) { html += '<div class="note">' + esc(note) + "</div>"; });
    tip.innerHTML = html;
    tip.style.display = "block";
  });
  cy.on("mousemove", function (event) {
    var e = event.originalEvent;
    if (!e) { return; }
    tip.style.left = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + "px";
    tip.style.top = Math.min(e.clientY + 14, window.innerHeight - tip.offsetHeight - 8) + "px";
  });
  cy.on("mouseout", "node", function () { tip.style.display = "none"; });
  document.getElementById("graph").addEventListener("mouseleave", function () { tip.style.display = "none"; });

  var search = document.getElementById("search");
  var matches = document.getElementById("matches");
  function apply() {
    var q = search.value.trim().toLowerCase();
    cy.stop();
    if (!q) {
      cy.elements().removeClass("faded match");
      matches.textContent = "";
      cy.fit(undefined, 30);
      return;
    }
    cy.batch(function () {
      cy.elements().removeClass("faded match");
      var hit = cy.nodes("[!box]").filter(function (n) {
        var d = n.data();
        return [d.name, d.key, d.pipeline || "", d.owner || "", d.layer].some(function (s) {
          return s.toLowerCase().indexOf(q) >= 0;
        });
      });
      cy.elements().not(hit).not(hit.parents()).addClass("faded");
      hit.addClass("match");
      matches.textContent = hit.length + " match" + (hit.length === 1 ? "" : "es");
      if (hit.length) { cy.animate({ fit: { eles: hit, padding: 60 } }, { duration: 250 }); }
    });
  }
  search.addEventListener("input", apply);

  window.orchLineage = {
    cy: cy,
    assets: cy.nodes("[!box]").length,
    edges: cy.edges().length,
    pipelines: cy.nodes("[?pipeline][?box]").length,
    search: function (text) { search.value = text; apply(); return matches.textContent; }
  };
})();
