// Models: the registry's models, versions, aliases, metrics and where each version came from;
// promoting an alias (needs the dashboard's token).
"use strict";
(() => {
  const { api, el, link, enc, time, table, show } = UI;

  function lineage(l) {
    if (!l) return "";
    const parts = [];
    if (l.run_id) parts.push(link("#/runs/" + enc(l.run_id), `run ${l.run_id}` + (l.task ? ` / ${l.task}` : "")));
    if (l.artifact_id) parts.push(" ", link("#/artifacts/" + l.artifact_id, `artifact #${l.artifact_id}`));
    if (l.study) parts.push(" ", link(`#/studies/${enc(l.study)}` + (l.trial !== undefined && l.trial !== null ? `/trials/${l.trial}` : ""),
                                      `study ${l.study}` + (l.trial !== undefined && l.trial !== null ? ` #${l.trial}` : "")));
    return parts;
  }

  function aliases(map) {
    return Object.entries(map || {}).map(([a, v]) => el("span", { class: "state", "data-alias": a }, `${a} → v${v}`));
  }

  UI.page(/^\/models$/, async gen => {
    const data = await api("models");
    show(gen, el("h1", {}, "Models"), table([
      { title: "Model", cell: m => link("#/models/" + enc(m.name), m.name) },
      { title: "Latest", cell: m => "v" + m.latest_version },
      { title: "Versions", cell: m => String(m.version_count), num: true },
      { title: "Aliases", cell: m => aliases(m.aliases) },
      { title: "Metrics (latest)", cell: m => m.latest ? JSON.stringify(m.latest.metrics) : "" },
      { title: "From", cell: m => m.latest ? lineage(m.latest.lineage) : "" },
      { title: "Created", cell: m => time(m.created_at) },
    ], data.models));
  });

  UI.page(/^\/models\/([^/]+)$/, async (gen, [name]) => {
    const m = await api("models/" + enc(name));
    const message = el("div", { id: "promote-result" });
    const alias = el("input", { id: "alias-name", value: "production", size: 12 });
    const version = el("input", { id: "alias-version", value: String(m.latest_version), size: 4 });
    async function promote(e) {
      e.preventDefault();
      try {
        await api(`models/${enc(name)}/aliases/${enc(alias.value)}`, {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ version: Number(version.value) }),
        });
        location.hash = "#/models/" + enc(name) + "?t=" + Date.now();
      } catch (err) {
        message.replaceChildren(UI.errorBox(err));
      }
    }
    show(gen, el("h1", {}, "Model ", name), el("p", {}, "Aliases: ", aliases(m.aliases)),
      el("form", { class: "filters", onsubmit: promote }, "Point alias ", alias, " at version ", version,
         el("button", { type: "submit" }, "Promote")), message,
      table([
        { title: "Version", cell: v => "v" + v.version },
        { title: "Aliases", cell: v => v.aliases.join(", ") },
        { title: "Metrics", cell: v => JSON.stringify(v.metrics) },
        { title: "From", cell: v => lineage(v.lineage) },
        { title: "Source", cell: v => v.source },
        { title: "Size", cell: v => String(v.size), num: true },
        { title: "Created", cell: v => time(v.created_at) },
      ], m.versions));
  });
})();
