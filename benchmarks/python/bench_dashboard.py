"""The dashboard with 10,000 pipeline runs and 10,000 trials: how long a page of each takes over
HTTP, against the peer that reads the same kind of data (Optuna's RDB storage loading a
10,000-trial study, which is what a dashboard built on it reads per page; TensorBoard's
EventAccumulator loading a 10,000-step event file).

    .venv/bin/python benchmarks/python/bench_dashboard.py [--rows 10000] [--repeat 20]

Rows are written straight into the store's tables (one real run and one real study first, so
the tables and ids exist). Figures are medians in milliseconds; noisy on shared machines.
"""

import argparse
import http.client
import json
import os
import sqlite3
import statistics
import tempfile
import time


def fill(home, rows):
    import mlcore
    from mlcore import pipelines as mp
    from mlcore.pipelines import Dataset, Output

    @mp.component
    def make(data: Output[Dataset]):
        open(data.path, "w").write("x")

    @mp.pipeline
    def bench():
        make()

    os.environ["MLCORE_HOME"] = home
    mp.run(bench).wait()
    study = mlcore.hpo.create_study(name="bench", direction="minimize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    db = sqlite3.connect(os.path.join(home, "mlcore.db"))
    exp, ver = db.execute("SELECT experiment_id, version_id FROM pipeline_runs").fetchone()
    db.executemany(
        "INSERT INTO pipeline_runs(id, namespace, experiment_id, version_id, arguments, state, "
        "created_at, started_at, finished_at) VALUES(?, 'default', ?, ?, '{}', ?, ?, ?, ?)",
        [(f"bulk-{i}", exp, ver, "failed" if i % 10 == 0 else "succeeded", 1000.0 + i,
          1000.0 + i, 1000.0 + i + i % 100) for i in range(rows)])
    sid = db.execute("SELECT study_id FROM hpo_studies WHERE name = 'bench'").fetchone()[0]
    db.executemany(
        "INSERT INTO hpo_trials(study_id, number, state, value, started_at, finished_at) "
        "VALUES(?, ?, 'complete', ?, 1000, 1001)",
        [(sid, 10 + i, float((i * 7919) % rows)) for i in range(rows)])
    tid = db.execute("SELECT trial_id FROM hpo_trials WHERE study_id = ? AND number = 0",
                     (sid,)).fetchone()[0]
    dist = db.execute("SELECT distribution FROM hpo_trial_params WHERE trial_id = ?",
                      (tid,)).fetchone()[0]
    db.execute("INSERT INTO hpo_trial_params(trial_id, name, value, distribution) "
               "SELECT trial_id, 'x', value / ?, ? FROM hpo_trials WHERE study_id = ? AND "
               "number >= 10", (rows, dist, sid))
    db.commit()
    db.close()


def timed(fn, repeat):
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def optuna_peer(rows, repeat, tmp):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp}/optuna.db"
    study = optuna.create_study(storage=url, study_name="bench")
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    study.add_trials([optuna.trial.create_trial(params={"x": i / rows}, distributions=dist,
                                                value=float((i * 7919) % rows))
                      for i in range(rows)])
    storage = optuna.storages.RDBStorage(url)
    sid = storage.get_study_id_from_name("bench")
    return timed(lambda: storage.get_all_trials(sid, deepcopy=False), max(3, repeat // 4))


def tensorboard_peer(steps, repeat, tmp):
    from mlcore import nn
    from tensorboard.backend.event_processing import event_accumulator

    logdir = os.path.join(tmp, "logs", "long", "train")
    writer = nn.SummaryWriter(logdir)
    for s in range(steps):
        writer.add_scalar("epoch_loss", 1.0 / (s + 1), s)
    writer.flush()

    def load():
        acc = event_accumulator.EventAccumulator(logdir, size_guidance={"scalars": 0})
        acc.Reload()
        acc.Scalars("epoch_loss")
    return timed(load, max(3, repeat // 4))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_dashboard_")
    home = os.path.join(tmp, "home")
    fill(home, args.rows)
    tb_ms = tensorboard_peer(args.rows, args.repeat, home)
    import mlcore

    server = mlcore.ui.start(home=home, port=0)
    host, port = server.url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def get(path):
        conn.request("GET", "/ui/api/" + path)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (path, r.status, body[:200])
        return body

    cases = {
        "runs: first page of 50": "runs?limit=50",
        "runs: last page of 50": f"runs?offset={args.rows - 50}&limit=50",
        "runs: failed only, page 1": "runs?state=failed&limit=50",
        "trials: page sorted by value": "studies/bench/trials?sort=value&limit=50",
        "trials: last page, desc": f"studies/bench/trials?sort=value&order=desc&offset={args.rows - 50}&limit=50",
        "study plots (history, parallel, importance)": "studies/bench/plots",
        "studies list": "studies",
        f"training curve, {args.rows} steps (polled: cached)": "training/curves?name=long",
    }
    results = {name: timed(lambda p=path: get(p), args.repeat) for name, path in cases.items()}
    server.stop()
    results[f"training curve, {args.rows} steps (first read)"] = timed(
        lambda: mlcore.ui.Dashboard(home).training_curves("long"), max(3, args.repeat // 4))
    results[f"peer: optuna RDBStorage.get_all_trials ({args.rows} trials)"] = optuna_peer(
        args.rows, args.repeat, tmp)
    results[f"peer: tensorboard EventAccumulator.Reload ({args.rows} steps)"] = tb_ms
    width = max(len(k) for k in results)
    for name, ms in results.items():
        print(f"{name:<{width}}  {ms:8.2f} ms")
    print(json.dumps({k: round(v, 2) for k, v in results.items()}))


if __name__ == "__main__":
    main()
