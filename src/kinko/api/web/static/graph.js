// kinko trace graph: draws /trace/{id}/graph.json into <svg data-graph>, with wheel zoom,
// drag pan and a side panel (<aside data-panel>) for the clicked address. The server lays the
// graph out (columns by hops) and formats every amount; nothing here computes taint. Every
// text from the data (addresses, labels) is set with textContent, never as HTML.
"use strict";

(() => {
  const NS = "http://www.w3.org/2000/svg";
  const DX = 240, DY = 44, PAD = 40, LABEL = 200;
  const MAXCHARS = 26; // what fits in a column's DX at the page's font size

  function el(name, attrs) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  function shortAddress(a) {
    return a.length > 14 ? a.slice(0, 8) + "…" + a.slice(-4) : a;
  }

  function fill(panel, node) {
    const facts = panel.querySelector("[data-panel-facts]");
    const help = panel.querySelector("[data-panel-help]");
    const set = (field, text) => {
      const target = panel.querySelector('[data-field="' + field + '"]');
      if (target) target.textContent = text;
    };
    set("address", node.address);
    set("hops", String(node.hops));
    set("taint_received", node.taint_received_shown || node.taint_received);
    set("held", node.held_shown || node.held);
    set("label", node.label || "—");
    set("category", node.category || "—");
    const stop = panel.querySelector('[data-field="stop"]');
    if (stop) stop.textContent = node.stop ? stop.dataset.yes : stop.dataset.no;
    panel.dataset.address = node.address;
    if (facts) facts.hidden = false;
    if (help) help.hidden = true;
  }

  function draw(svg, data) {
    const panel = document.querySelector("[data-panel]");
    const nodes = data.nodes || [];
    const edges = data.edges || [];
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (!nodes.length) {
      const t = el("text", { x: 10, y: 24 });
      t.textContent = svg.dataset.empty || "";
      svg.appendChild(t);
      svg.setAttribute("viewBox", "0 0 400 40");
      svg.dataset.ready = "0";
      return;
    }
    const cols = Math.max(...nodes.map((n) => n.x)) + 1;
    const rows = Math.max(...nodes.map((n) => n.y)) + 1;
    const width = (cols - 1) * DX + PAD * 2 + LABEL, height = rows * DY + PAD;
    // the whole graph when it fits at its natural size or zoomed out up to 3x, else 3x from
    // the top left (labels stay readable; pan and zoom for the rest), keeping proportions
    const boxW = svg.clientWidth || 800, boxH = svg.clientHeight || 500;
    const scale = Math.max(1, Math.min(width / boxW, height / boxH));
    const fits = width <= boxW && height <= boxH;
    const view = fits ? { x: 0, y: 0, w: boxW, h: boxH }
                      : { x: 0, y: 0, w: boxW * Math.min(scale, 3), h: boxH * Math.min(scale, 3) };
    const apply = () => svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
    apply();
    const layer = el("g", { class: "graph-layer" });
    svg.appendChild(layer);
    const at = (n) => [n.x * DX + PAD, n.y * DY + PAD];
    for (const e of edges) {
      const a = nodes[e.from], b = nodes[e.to];
      if (!a || !b) continue;
      const [x1, y1] = at(a), [x2, y2] = at(b);
      const line = el("line", { x1, y1, x2, y2, class: "edge",
                                "stroke-width": (1 + 6 * (Number(e.weight) || 0)).toFixed(2) });
      const title = el("title");
      title.textContent = (e.flow_shown || e.flow) + (data.unit ? " " + data.unit : "");
      line.appendChild(title);
      layer.appendChild(line);
    }
    let selected = null;
    for (const n of nodes) {
      const [x, y] = at(n);
      const g = el("g", { class: n.stop ? "node stop" : "node", tabindex: 0, role: "button" });
      g.dataset.address = n.address;
      const circle = el("circle", { cx: x, cy: y, r: 7 });
      const title = el("title");
      const unit = data.unit ? " " + data.unit : "";
      title.textContent = [n.label, n.address,
                           (svg.dataset.wordTaint || "") + " " +
                             (n.taint_received_shown || n.taint_received) + unit,
                           (svg.dataset.wordHeld || "") + " " + (n.held_shown || n.held) + unit].filter(Boolean).join("\n");
      circle.appendChild(title);
      const text = el("text", { x: x + 11, y: y + 4 });
      // a label never runs into the next column: cut to fit, whole in the tooltip
      const name = n.label || shortAddress(n.address);
      text.textContent = name.length > MAXCHARS ? name.slice(0, MAXCHARS - 1) + "…" : name;
      g.appendChild(circle);
      g.appendChild(text);
      const choose = () => {
        if (selected) selected.classList.remove("selected");
        selected = g;
        g.classList.add("selected");
        if (panel) fill(panel, n);
      };
      g.addEventListener("click", (ev) => { ev.stopPropagation(); if (!moved) choose(); });
      g.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); choose(); }
      });
      layer.appendChild(g);
    }

    // wheel zoom about the pointer; drag to pan
    const toGraph = (clientX, clientY) => {
      const box = svg.getBoundingClientRect();
      return [view.x + (clientX - box.left) / box.width * view.w,
              view.y + (clientY - box.top) / box.height * view.h];
    };
    svg.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const k = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
      const [gx, gy] = toGraph(ev.clientX, ev.clientY);
      view.x = gx - (gx - view.x) * k;
      view.y = gy - (gy - view.y) * k;
      view.w *= k;
      view.h *= k;
      apply();
      svg.dataset.zoom = (boxW / view.w).toFixed(3);
    }, { passive: false });
    let drag = null, moved = false;
    svg.addEventListener("pointerdown", (ev) => {
      drag = [ev.clientX, ev.clientY];
      moved = false;
    });
    window.addEventListener("pointerup", () => {
      drag = null;
      svg.classList.remove("dragging");
    });
    svg.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      const box = svg.getBoundingClientRect();
      const dx = (ev.clientX - drag[0]) / box.width * view.w;
      const dy = (ev.clientY - drag[1]) / box.height * view.h;
      if (Math.abs(ev.clientX - drag[0]) + Math.abs(ev.clientY - drag[1]) > 2) {
        moved = true;
        svg.classList.add("dragging");
      }
      view.x -= dx;
      view.y -= dy;
      drag = [ev.clientX, ev.clientY];
      apply();
    });
    svg.dataset.ready = "1";
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const svg of document.querySelectorAll("svg[data-graph]")) {
      const src = svg.dataset.src;
      if (!src) continue;
      fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then((data) => draw(svg, data))
        .catch(() => { svg.dataset.ready = "error"; });
    }
  });
})();
