// Training: runs found as TensorBoard event files, and their loss, metric and learning-rate
// curves, polled every second so a fit in progress draws as it goes.
"use strict";
(() => {
  const { api, el, link, enc, time, table, show, every } = UI;

  UI.page(/^\/training$/, async gen => {
    const data = await api("training");
    show(gen, el("h1", {}, "Training runs"),
      el("p", { class: "muted" }, "TensorBoard event files under ", data.log_dirs.join(", ")),
      table([
        { title: "Run", cell: r => link("#/training/" + enc(r.name), r.name) },
        { title: "Directory", cell: r => r.dir },
        { title: "Event files", cell: r => String(r.files), num: true },
        { title: "Last write", cell: r => time(r.modified_at) },
      ], data.runs));
  });

  // "train/epoch_loss" and "validation/epoch_loss" share the chart "epoch_loss".
  function chartName(series) { return series.replace(/^(train|validation)\//, ""); }

  UI.page(/^\/training\/(.+)$/, async (gen, [name]) => {
    let series = {};
    const box = el("div", { id: "curves" });
    const status = el("p", { class: "muted", id: "curve-status" });
    async function poll() {
      // The whole curve each time: a validation point may land after its step's training point
      // was read, and epochs are few enough that refetching them is cheap.
      const data = await api(`training/curves?name=${enc(name)}`);
      series = data.series;
      const charts = {};
      for (const key of Object.keys(series).sort()) (charts[chartName(key)] = charts[chartName(key)] || []).push(key);
      box.replaceChildren(...Object.entries(charts).map(([title, keys]) => {
        const c = Charts.lines(keys.map(k => ({ name: k, points: series[k].map(p => [p[0], p[1]]) })), { xLabel: "step" });
        return el("div", { class: "curve", "data-chart": title }, el("h2", {}, title), c.legend, c.node);
      }));
      status.textContent = `last step ${data.last_step} · updated ${new Date().toLocaleTimeString()}` +
        (data.errors.length ? " · " + data.errors.join("; ") : "");
    }
    show(gen, el("h1", {}, "Training run ", name), status, box);
    await poll();
    every(1000, () => poll().catch(() => {}));
  });
})();
