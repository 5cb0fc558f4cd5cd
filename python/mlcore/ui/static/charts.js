// Small SVG charts: lines (training curves, optimization history), parallel coordinates and
// horizontal bars (parameter importance). No library: a few axes and polylines.
"use strict";
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#2f6fde", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#1098ad", "#5c940d", "#862e9c"];

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
    if (!Number.isFinite(lo)) return [0, 1];
    if (lo === hi) return [lo - 0.5, hi + 0.5];
    return [lo, hi];
  }

  function fmt(v) {
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
    return String(Number(v.toPrecision(3)));
  }

  // series: [{name, points: [[x, y], ...], dots}]; returns {node, legend}.
  function lines(series, options) {
    const o = Object.assign({ width: 640, height: 260, xLabel: "", yLabel: "" }, options || {});
    const m = { l: 56, r: 12, t: 10, b: 30 };
    const xs = [], ys = [];
    for (const s of series) for (const p of s.points) { xs.push(p[0]); ys.push(p[1]); }
    const [x0, x1] = extent(xs), [y0, y1] = extent(ys);
    const X = x => m.l + (x - x0) / (x1 - x0) * (o.width - m.l - m.r);
    const Y = y => o.height - m.b - (y - y0) / (y1 - y0) * (o.height - m.t - m.b);
    const root = svg("svg", { class: "chart", width: o.width, height: o.height, viewBox: `0 0 ${o.width} ${o.height}` });
    root.append(svg("line", { class: "axis", x1: m.l, y1: o.height - m.b, x2: o.width - m.r, y2: o.height - m.b }));
    root.append(svg("line", { class: "axis", x1: m.l, y1: m.t, x2: m.l, y2: o.height - m.b }));
    for (let i = 0; i <= 4; i++) {
      const yv = y0 + (y1 - y0) * i / 4, xv = x0 + (x1 - x0) * i / 4;
      root.append(svg("text", { x: m.l - 4, y: Y(yv) + 4, "text-anchor": "end" }, fmt(yv)));
      root.append(svg("text", { x: X(xv), y: o.height - m.b + 14, "text-anchor": "middle" }, fmt(xv)));
    }
    if (o.xLabel) root.append(svg("text", { x: o.width - m.r, y: o.height - 2, "text-anchor": "end" }, o.xLabel));
    const legend = document.createElement("div");
    legend.className = "legend";
    series.forEach((s, i) => {
      const color = s.color || COLORS[i % COLORS.length];
      const pts = s.points.filter(p => Number.isFinite(p[1]));
      if (s.dots) {
        const g = svg("g", { class: "series-dots", "data-name": s.name });
        for (const p of pts) g.append(svg("circle", { class: "dot", cx: X(p[0]), cy: Y(p[1]), r: 2.5, fill: color }));
        root.append(g);
      } else {
        root.append(svg("polyline", {
          class: "series", "data-name": s.name, "data-points": pts.length, stroke: color,
          points: pts.map(p => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" "),
        }));
      }
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = color;
      item.append(swatch, s.name);
      legend.append(item);
    });
    return { node: root, legend };
  }

  // params: [{name, numeric}]; rows: [{params: {name: value}, value}]; colour by value.
  function parallel(params, rows, options) {
    const o = Object.assign({ width: 900, height: 300 }, options || {});
    const axes = params.map(p => p.name).concat(["value"]);
    const m = { l: 40, r: 60, t: 24, b: 20 };
    const step = (o.width - m.l - m.r) / Math.max(1, axes.length - 1);
    const scales = axes.map(name => {
      const values = rows.map(r => name === "value" ? r.value : r.params[name]);
      const numeric = name === "value" || (params.find(p => p.name === name) || {}).numeric;
      if (numeric) {
        const [lo, hi] = extent(values.map(Number));
        return { f: v => (Number(v) - lo) / (hi - lo), lo, hi };
      }
      const cats = [...new Set(values.map(String))].sort();
      return { f: v => cats.length < 2 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1), cats };
    });
    const root = svg("svg", { class: "chart parallel", width: o.width, height: o.height });
    const Y = f => o.height - m.b - f * (o.height - m.t - m.b);
    const [v0, v1] = extent(rows.map(r => r.value));
    for (const r of rows) {
      const t = (r.value - v0) / (v1 - v0);
      const pts = axes.map((name, i) => {
        const v = name === "value" ? r.value : r.params[name];
        return v === undefined ? null : `${(m.l + i * step).toFixed(1)},${Y(scales[i].f(v)).toFixed(1)}`;
      }).filter(Boolean);
      root.append(svg("polyline", {
        class: "series", "data-trial": r.number, "stroke-width": 1, opacity: 0.6,
        stroke: `hsl(${(220 - 200 * t).toFixed(0)}, 70%, 50%)`, points: pts.join(" "),
      }));
    }
    axes.forEach((name, i) => {
      const x = m.l + i * step;
      root.append(svg("line", { class: "axis", x1: x, y1: m.t, x2: x, y2: o.height - m.b }));
      root.append(svg("text", { x, y: 14, "text-anchor": "middle" }, name));
      const s = scales[i];
      const lo = s.cats ? s.cats[0] : fmt(s.lo), hi = s.cats ? s.cats[s.cats.length - 1] : fmt(s.hi);
      root.append(svg("text", { x: x + 3, y: o.height - m.b + 12 }, lo === undefined ? "" : lo));
      root.append(svg("text", { x: x + 3, y: m.t + 8 }, hi === undefined ? "" : hi));
    });
    return root;
  }

  // items: [{name, value}] with values in [0, 1].
  function bars(items, options) {
    const o = Object.assign({ width: 480, row: 22 }, options || {});
    const height = Math.max(1, items.length) * o.row + 8;
    const root = svg("svg", { class: "chart bars", width: o.width, height });
    items.forEach((it, i) => {
      const w = Math.max(1, it.value * (o.width - 220));
      root.append(svg("text", { x: 4, y: i * o.row + 16 }, it.name));
      root.append(svg("rect", { class: "bar", "data-name": it.name, x: 150, y: i * o.row + 5, width: w, height: o.row - 8, fill: COLORS[0] }));
      root.append(svg("text", { x: 156 + w, y: i * o.row + 16 }, it.value.toFixed(3)));
    });
    return root;
  }

  return { lines, parallel, bars, COLORS };
})();
