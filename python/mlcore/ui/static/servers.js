// Model servers (status, name, age, backend, protocol, model and version, source, request rate
// and latency) and resources (devices, what holds them, CPU slots).
"use strict";
(() => {
  const { api, el, duration, number, table, show, every } = UI;

  async function servers(gen) {
    const data = await api("servers");
    const rows = [];
    for (const s of data.servers) {
      const models = s.models.length ? s.models : [{}];
      for (const m of models) rows.push(Object.assign({ server: s }, m));
    }
    show(gen, el("h1", {}, "Model servers"), table([
      { title: "Status", cell: r => UI.state(r.server.status) },
      { title: "Name", cell: r => r.name || "(no model)" },
      { title: "Age", cell: r => duration(r.server.age_s), num: true },
      { title: "Backend", cell: r => r.backend || "" },
      { title: "Protocol", cell: r => r.protocol || "" },
      { title: "Version", cell: r => r.version || "" },
      { title: "Model state", cell: r => r.state ? UI.state(r.state) : "" },
      { title: "Source", cell: r => r.source || "" },
      { title: "Requests/s", cell: r => number(r.request_rate, 2), num: true },
      { title: "Latency (ms)", cell: r => number(r.latency_ms, 2), num: true },
      { title: "Requests", cell: r => r.requests === undefined ? "" : String(r.requests), num: true },
      { title: "URL", cell: r => r.server.url },
      { title: "Host / pid", cell: r => `${r.server.host} / ${r.server.pid}` },
    ], rows));
  }

  UI.page(/^\/servers$/, async gen => {
    await servers(gen);
    every(3000, () => servers(gen).catch(() => {}));
  });

  UI.page(/^\/resources$/, async gen => {
    const r = await api("resources");
    const gpus = r.gpus.length ? table([
      { title: "GPU", cell: g => `${g.index}: ${g.name}` },
      { title: "Memory used", cell: g => (g.memory_used / 2 ** 30).toFixed(2) + " GiB", num: true },
      { title: "Memory free", cell: g => (g.memory_free / 2 ** 30).toFixed(2) + " GiB", num: true },
      { title: "Total", cell: g => (g.memory_total / 2 ** 30).toFixed(2) + " GiB", num: true },
    ], r.gpus) : el("div", { class: "notice", id: "no-gpu" }, "No GPU: ", r.gpu_reason || "none found");
    show(gen, el("h1", {}, "Resources"),
      el("div", { class: "cards" },
        el("div", { class: "card" }, el("div", { class: "muted" }, "GPUs"), el("div", { class: "big" }, String(r.gpus.length))),
        el("div", { class: "card" }, el("div", { class: "muted" }, "CPU slots"), el("div", { class: "big" }, `${r.cpu_slots_held} of ${r.cpu_slots} held`)),
        el("div", { class: "card" }, el("div", { class: "muted" }, "Holders now"), el("div", { class: "big" }, String(r.holders.length)))),
      el("h2", {}, "Devices"), gpus,
      r.store_error ? el("div", { class: "error" }, r.store_error) : null,
      el("h2", {}, "Who holds what"), table([
        { title: "Kind", cell: h => h.kind },
        { title: "Holder", cell: h => h.name },
        { title: "Device", cell: h => h.device },
        { title: "Since", cell: h => UI.time(h.since) },
      ], r.holders));
  });
})();
