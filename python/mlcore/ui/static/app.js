// The dashboard's core: the API client, DOM helpers, tables, paging and the hash router.
// Pages (runs.js, studies.js, ...) register themselves with UI.page(pattern, render).
"use strict";
const UI = (() => {
  const base = location.pathname.replace(/\/(index\.html)?$/, "");
  const routes = [];
  const timers = [];
  let generation = 0;  // bumped at each navigation so late answers of a left page are dropped

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function token() { return sessionStorage.getItem("mlcore-token") || ""; }

  async function api(path, options) {
    const init = Object.assign({ headers: {} }, options || {});
    if (init.method && init.method !== "GET" && token()) {
      init.headers.Authorization = "Bearer " + token();
    }
    const response = await fetch(base + "/api/" + path, init);
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok) {
      let message = response.statusText;
      if (type.startsWith("application/json")) message = (await response.json()).error || message;
      throw new ApiError(response.status, message);
    }
    if (type.startsWith("application/json")) return response.json();
    return response.text();
  }

  // el("a", {href: "#/x", class: "y"}, "text", child...): strings become text nodes, never HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function link(href, text) { return el("a", { href }, text); }
  function enc(text) { return encodeURIComponent(text); }
  function state(text) { return el("span", { class: "state state-" + text }, text); }

  function time(seconds) {
    if (seconds === null || seconds === undefined || seconds === 0) return "";
    return new Date(seconds * 1000).toLocaleString();
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 1) return (seconds * 1000).toFixed(0) + " ms";
    if (seconds < 120) return seconds.toFixed(1) + " s";
    if (seconds < 7200) return (seconds / 60).toFixed(1) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function number(v, digits) {
    if (v === null || v === undefined) return "";
    if (typeof v !== "number") return String(v);
    return Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3)
                                                                  : v.toFixed(digits === undefined ? 4 : digits);
  }

  // columns: [{title, cell(row) -> node|string, num, sort}]; onSort(key) makes titles clickable.
  function table(columns, rows, onSort) {
    const head = el("tr", {}, columns.map(c => el("th", {
      class: c.sort && onSort ? "sortable" : null,
      onclick: c.sort && onSort ? () => onSort(c.sort) : null,
    }, c.title)));
    const body = rows.map(r => el("tr", {}, columns.map(c => el("td", { class: c.num ? "num" : null }, c.cell(r)))));
    if (!rows.length) body.push(el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, "nothing yet")));
    return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
  }

  function pager(total, offset, limit, go) {
    const last = Math.max(0, Math.floor((total - 1) / limit) * limit);
    return el("div", { class: "pager" },
      el("button", { disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)) }, "‹ previous"),
      el("span", { class: "muted" }, total ? `${offset + 1}–${Math.min(total, offset + limit)} of ${total}` : "0"),
      el("button", { disabled: offset + limit >= total, onclick: () => go(Math.min(last, offset + limit)) }, "next ›"));
  }

  function errorBox(err) {
    if (err instanceof ApiError && err.status === 503) {
      return el("div", { class: "error", "data-status": 503 }, "The store cannot be read right now: ", err.message);
    }
    if (err instanceof ApiError && err.status === 404) {
      return el("div", { class: "error", "data-status": 404 }, "Not found: ", err.message);
    }
    return el("div", { class: "error", "data-status": err.status || 0 }, String(err.message || err));
  }

  function main() { return document.getElementById("main"); }

  // Replaces the page's content, unless the user has moved on since `gen`.
  function show(gen, ...nodes) {
    if (gen !== generation) return;
    main().replaceChildren(...nodes.filter(n => n !== null && n !== undefined && n !== false));
  }

  // Runs fn every ms while this page is shown.
  function every(ms, fn) { timers.push(setInterval(fn, ms)); }

  function page(pattern, render) { routes.push({ pattern, render }); }

  async function route() {
    generation += 1;
    const gen = generation;
    while (timers.length) clearInterval(timers.pop());
    const hash = location.hash.replace(/^#/, "") || "/runs";
    const path = hash.split("?")[0];
    const query = new URLSearchParams(hash.split("?")[1] || "");
    const area = path.split("/")[1];
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.area === area);
    for (const r of routes) {
      const m = path.match(r.pattern);
      if (!m) continue;
      main().replaceChildren(el("p", { class: "muted" }, "loading…"));
      try {
        await r.render(gen, m.slice(1).map(decodeURIComponent), query);
      } catch (err) {
        show(gen, errorBox(err));
      }
      return;
    }
    show(gen, el("h1", {}, "404"), el("div", { class: "error", "data-status": 404 }, "No such page: " + path));
  }

  function start() {
    const input = document.getElementById("token");
    input.value = token();
    input.addEventListener("change", () => sessionStorage.setItem("mlcore-token", input.value));
    api("info").then(info => {
      document.getElementById("home").textContent = info.home + (info.read_only ? " · read-only" : "");
      if (info.read_only) document.getElementById("token-box").style.display = "none";
    }).catch(() => {});
    window.addEventListener("hashchange", route);
    route();
  }

  return { api, el, link, enc, state, time, duration, number, table, pager, errorBox, show, every,
           page, start, base, isCurrent: gen => gen === generation };
})();
