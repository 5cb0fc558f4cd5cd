// Pipelines: runs (filtered, paged), a run's DAG with live task states, its tasks' logs, inputs
// and outputs; artifacts with lineage; recurring runs.
"use strict";
(() => {
  const { api, el, link, enc, state, time, duration, table, pager, show, every } = UI;
  const STATES = ["", "pending", "running", "succeeded", "failed", "cancelled", "interrupted"];

  function select(name, values, current) {
    return el("select", { name }, values.map(v => el("option", { value: v, selected: v === current }, v || "any " + name)));
  }

  UI.page(/^\/runs$/, async (gen, _, query) => {
    const q = Object.fromEntries(query.entries());
    const offset = Number(q.offset || 0), limit = 50;
    const params = new URLSearchParams({ offset, limit });
    for (const k of ["state", "experiment", "pipeline", "min_duration", "max_duration"]) if (q[k]) params.set(k, q[k]);
    const data = await api("runs?" + params);
    const go = changes => { location.hash = "#/runs?" + new URLSearchParams(Object.assign({}, q, changes)); };
    const form = el("form", { class: "filters", onsubmit: e => {
      e.preventDefault();
      const f = new FormData(e.target);
      go(Object.assign(Object.fromEntries(f.entries()), { offset: 0 }));
    } },
      select("state", STATES, q.state || ""),
      select("experiment", [""].concat(data.experiments), q.experiment || ""),
      select("pipeline", [""].concat(data.pipelines), q.pipeline || ""),
      el("input", { name: "min_duration", placeholder: "min s", size: 6, value: q.min_duration || "" }),
      el("input", { name: "max_duration", placeholder: "max s", size: 6, value: q.max_duration || "" }),
      el("button", { type: "submit" }, "Filter"));
    const rows = table([
      { title: "Run", cell: r => link("#/runs/" + enc(r.id), r.id) },
      { title: "Pipeline", cell: r => r.pipeline },
      { title: "Experiment", cell: r => r.experiment },
      { title: "State", cell: r => state(r.state) },
      { title: "Created", cell: r => time(r.created_at) },
      { title: "Duration", cell: r => duration(r.duration_s), num: true },
      { title: "Error", cell: r => r.error },
    ], data.runs);
    show(gen, el("h1", {}, "Pipeline runs"), form, rows, pager(data.total, offset, limit, o => go({ offset: o })));
  });

  async function dagNode(id) {
    const text = await api("runs/" + enc(id) + "/dag");
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    return document.importNode(doc.documentElement, true);
  }

  function artifactLinks(list, key) {
    return list.map(a => el("div", {}, link("#/artifacts/" + a.artifact_id, `${a[key]} (#${a.artifact_id})`)));
  }

  async function logs(run, task, stream, box) {
    const text = await api(`runs/${enc(run)}/tasks/${enc(task)}/logs/${stream}`);
    box.replaceChildren(el("h2", {}, `${task} · ${stream}`), el("pre", { class: "log" }, text || "(empty)"));
  }

  UI.page(/^\/runs\/([^/]+)$/, async (gen, [id]) => {
    const logBox = el("div", { id: "log" });
    async function render() {
      const [run, dag] = await Promise.all([api("runs/" + enc(id)), dagNode(id)]);
      const tasks = table([
        { title: "Task", cell: t => t.name },
        { title: "State", cell: t => state(t.state) },
        { title: "Retries", cell: t => String(t.retries), num: true },
        { title: "Cache", cell: t => t.cache_hit ? "hit" : "" },
        { title: "Inputs", cell: t => artifactLinks(t.inputs, "input") },
        { title: "Outputs", cell: t => artifactLinks(t.artifacts, "output") },
        { title: "Duration", cell: t => t.started_at ? duration((t.finished_at || Date.now() / 1000) - t.started_at) : "", num: true },
        { title: "Logs", cell: t => [
          el("button", { onclick: () => logs(id, t.name, "stdout", logBox) }, "stdout"), " ",
          el("button", { onclick: () => logs(id, t.name, "stderr", logBox) }, "stderr")] },
        { title: "Error", cell: t => t.error },
      ], run.tasks);
      const summary = el("table", { class: "kv" },
        [["Pipeline", run.pipeline], ["Experiment", run.experiment], ["State", state(run.state)],
         ["Created", time(run.created_at)], ["Duration", duration(run.duration_s)],
         ["Arguments", JSON.stringify(run.arguments)], ["Outputs", JSON.stringify(run.outputs)],
         ["Error", run.error]].map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v))));
      show(gen, el("h1", {}, "Run ", id), summary, el("h2", {}, "Graph"), el("div", { class: "dag", id: "dag" }, dag),
           el("h2", {}, "Tasks"), tasks, logBox);
      return run.state;
    }
    const first = await render();
    if (first === "running" || first === "pending") {
      every(2000, () => render().catch(() => {}));
    }
  });

  UI.page(/^\/artifacts$/, async (gen, _, query) => {
    const offset = Number(query.get("offset") || 0), limit = 50;
    const data = await api(`artifacts?offset=${offset}&limit=${limit}`);
    show(gen, el("h1", {}, "Artifacts"), table([
      { title: "Id", cell: a => link("#/artifacts/" + a.id, "#" + a.id) },
      { title: "Output", cell: a => a.output },
      { title: "Type", cell: a => a.type },
      { title: "Made by", cell: a => [link("#/runs/" + enc(a.run_id), a.run_id), " / ", a.task] },
      { title: "Created", cell: a => time(a.created_at) },
      { title: "sha256", cell: a => a.sha256.slice(0, 12) },
    ], data.artifacts), pager(data.total, offset, limit, o => { location.hash = "#/artifacts?offset=" + o; }));
  });

  UI.page(/^\/artifacts\/([^/]+)$/, async (gen, [id]) => {
    const a = await api("artifacts/" + enc(id));
    const download = path => UI.base + `/api/artifacts/${a.id}/download` + (path ? "?path=" + enc(path) : "");
    const files = a.files ? table([
      { title: "File", cell: f => el("a", { href: download(f.path) }, f.path) },
      { title: "Size", cell: f => String(f.size), num: true },
    ], a.files) : el("p", {}, el("a", { href: download("") }, "download"), ` (${a.size || 0} bytes)`);
    show(gen, el("h1", {}, `Artifact #${a.id}: ${a.output}`),
      el("table", { class: "kv" },
        el("tr", {}, el("td", {}, "Type"), el("td", {}, a.type)),
        el("tr", {}, el("td", {}, "sha256"), el("td", {}, a.sha256)),
        el("tr", {}, el("td", {}, "Made by"), el("td", {}, link("#/runs/" + enc(a.run_id), a.run_id), " / ", a.task)),
        el("tr", {}, el("td", {}, "Created"), el("td", {}, time(a.created_at)))),
      el("h2", {}, "Used by"),
      table([{ title: "Run", cell: u => link("#/runs/" + enc(u.run_id), u.run_id) },
             { title: "Task", cell: u => u.task }, { title: "Input", cell: u => u.input }], a.used_by),
      el("h2", {}, "Registered as"),
      table([{ title: "Model", cell: m => link("#/models/" + enc(m.name), m.name) },
             { title: "Version", cell: m => String(m.version) }], a.models),
      el("h2", {}, "Content"), files);
  });

  UI.page(/^\/schedules$/, async gen => {
    const data = await api("schedules");
    show(gen, el("h1", {}, "Recurring runs"), table([
      { title: "Name", cell: s => s.name },
      { title: "Pipeline", cell: s => s.pipeline },
      { title: "Cron", cell: s => `${s.cron} (${s.time_zone || "UTC"})` },
      { title: "Enabled", cell: s => s.enabled ? "yes" : "no" },
      { title: "Last fire", cell: s => time(s.last_fire) },
      { title: "Last run", cell: s => s.last_run ? link("#/runs/" + enc(s.last_run), s.last_run) : "" },
      { title: "Next fire", cell: s => time(s.next_fire) },
    ], data.schedules));
  });
})();
