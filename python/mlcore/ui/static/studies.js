// Experiments (HPO): studies with their best value; a study's trials table (sortable, filtered
// by state, paged), optimization history, parallel coordinates, importance; one trial's logs.
"use strict";
(() => {
  const { api, el, link, enc, state, time, duration, number, table, pager, show, every } = UI;

  UI.page(/^\/studies$/, async gen => {
    const data = await api("studies");
    show(gen, el("h1", {}, "Experiments"), table([
      { title: "Study", cell: s => link("#/studies/" + enc(s.name), s.name) },
      { title: "Direction", cell: s => s.directions.join(", ") },
      { title: "Trials", cell: s => String(s.trials), num: true },
      { title: "Complete", cell: s => String(s.complete), num: true },
      { title: "Pruned", cell: s => String(s.pruned), num: true },
      { title: "Failed", cell: s => String(s.failed), num: true },
      { title: "Running", cell: s => String(s.running), num: true },
      { title: "Best value", cell: s => number(s.best_value), num: true },
      { title: "Best trial", cell: s => s.best_trial === null ? "" : link(`#/studies/${enc(s.name)}/trials/${s.best_trial}`, "#" + s.best_trial) },
      { title: "Created", cell: s => time(s.created_at) },
    ], data.studies));
  });

  function plots(p) {
    const hist = Charts.lines([
      { name: "value", points: p.history.map(h => [h[0], h[1]]), dots: true },
      { name: "best so far", points: p.history.map(h => [h[0], h[2]]) },
    ], { xLabel: "trial" });
    const box = el("div", {},
      el("h2", {}, "Optimization history"), hist.legend, hist.node,
      el("h2", {}, "Parallel coordinates"),
      p.parallel.trials.length ? Charts.parallel(p.parallel.params, p.parallel.trials) : el("p", { class: "muted" }, "no complete trials"),
      el("h2", {}, "Parameter importance"),
      p.importance.length ? Charts.bars(p.importance.map(i => ({ name: i.name, value: i.importance }))) : el("p", { class: "muted" }, "not enough trials"));
    box.id = "plots";
    return box;
  }

  UI.page(/^\/studies\/([^/]+)$/, async (gen, [name], query) => {
    const q = Object.fromEntries(query.entries());
    const offset = Number(q.offset || 0), limit = 50;
    const sort = q.sort || "number", order = q.order || "asc";
    const params = new URLSearchParams({ offset, limit, sort, order });
    if (q.state) params.set("state", q.state);
    const [trials, p] = await Promise.all([api(`studies/${enc(name)}/trials?${params}`), api(`studies/${enc(name)}/plots`)]);
    const go = changes => { location.hash = `#/studies/${enc(name)}?` + new URLSearchParams(Object.assign({}, q, changes)); };
    const keys = new Set();
    for (const t of trials.trials) for (const k of Object.keys(t.params)) keys.add(k);
    const columns = [
      { title: "#", sort: "number", cell: t => link(`#/studies/${enc(name)}/trials/${t.number}`, "#" + t.number) },
      { title: "State", sort: "state", cell: t => state(t.state) },
      { title: "Value", sort: "value", cell: t => number(t.value), num: true },
      { title: "Duration", sort: "duration", cell: t => duration(t.duration_s), num: true },
    ].concat([...keys].sort().map(k => ({ title: k, cell: t => number(t.params[k]), num: true })));
    const filter = el("div", { class: "filters" }, "State: ",
      el("select", { id: "trial-state", onchange: e => go({ state: e.target.value, offset: 0 }) },
        ["", "complete", "pruned", "failed", "running", "waiting"].map(s => el("option", { value: s, selected: s === (q.state || "") }, s || "any"))),
      el("span", { class: "muted" }, `sorted by ${sort} (${order}); click a column title to sort`));
    const onSort = key => go({ sort: key, order: key === sort && order === "asc" ? "desc" : "asc", offset: 0 });
    show(gen, el("h1", {}, "Study ", name), filter,
      el("div", { id: "trials" }, table(columns, trials.trials, onSort)),
      pager(trials.total, offset, limit, o => go({ offset: o })), plots(p));
  });

  // A trial's page; while the trial runs it is read again every 2 s, so its logs' tails grow live.
  UI.page(/^\/studies\/([^/]+)\/trials\/(\d+)$/, async (gen, [name, number_]) => {
    const logUrl = s => `${UI.base}/api/studies/${enc(name)}/trials/${number_}/logs/${s}`;
    const log = (t, s) => [
      el("h2", {}, s, " ", el("a", { href: logUrl(s), target: "_blank", class: "muted", id: `trial-${s}-whole` }, "(whole log)")),
      el("pre", { class: "log", id: `trial-${s}` }, t[s] || "(no log recorded)")];
    async function render() {
      const t = await api(`studies/${enc(name)}/trials/${number_}`);
      const steps = Charts.lines([{ name: "intermediate value", points: t.intermediate_values }], { xLabel: "step" });
      show(gen, el("h1", {}, `Study ${name} · trial #${t.number}`),
        el("table", { class: "kv" },
          [["State", state(t.state)], ["Value", number(t.value)], ["Values", JSON.stringify(t.values)],
           ["Parameters", JSON.stringify(t.params)], ["User attributes", JSON.stringify(t.user_attrs)],
           ["Pipeline run", typeof t.run_id === "string" ? link("#/runs/" + enc(t.run_id), t.run_id + " (its tasks' logs)") : ""],
           ["Started", time(t.started_at)], ["Duration", duration(t.duration_s)], ["Error", t.error]]
            .map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)))),
        el("p", {}, link("#/studies/" + enc(name), "‹ all trials")),
        el("h2", {}, "Intermediate values"), steps.node, ...log(t, "stdout"), ...log(t, "stderr"));
      for (const pre of document.querySelectorAll("pre.log")) pre.scrollTop = pre.scrollHeight;
      return t.state;
    }
    let running = (await render()) === "running";
    every(2000, async () => {
      if (!running) return;
      try { running = (await render()) === "running"; } catch (e) { /* the next tick retries */ }
    });
  });
})();
