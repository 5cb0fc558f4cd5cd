"""The dashboard in a real browser (Debian's chromium and chromedriver, headless, via selenium):
a pipeline run, a study, a live training run, a registered model and a running server are made,
then each page is opened and checked for what was made, the run's DAG for its task states, the
training curve for growth while fit() runs, and the console for JavaScript errors. Screenshots
go to build/test-results/ui/ (or $MLCORE_TEST_RESULTS/ui)."""

from __future__ import annotations

import os
import pathlib
import shutil
import threading
import time

import numpy as np
import pytest

import mlcore
from mlcore import nn, optim
from mlcore import pipelines as mp
from mlcore.pipelines import Dataset, Input, Model, Output
from serve_helpers import request

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
WAIT = 20  # seconds, the bound of every wait

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (scripts/install-deps.sh installs them)")

RESULTS = pathlib.Path(os.environ.get(
    "MLCORE_TEST_RESULTS",
    pathlib.Path(__file__).resolve().parents[2] / "build" / "test-results")) / "ui"


@mp.component
def load(rows: Output[Dataset]):
    with open(rows.path, "w") as f:
        f.write("1\n2\n3\n")
    print("loaded 3 rows")


@mp.component
def fit(rows: Input[Dataset], model: Output[Model]) -> float:
    with open(model.path, "w") as f:
        f.write("weights")
    return 0.25


@mp.pipeline
def browser_pipeline():
    data = load()
    fit(rows=data.outputs["rows"])


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    yield driver
    driver.quit()


def _wait(driver, css, text=None, timeout=WAIT):
    """The first element matching `css` (whose text contains `text`), waiting up to `timeout`."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d):
        for e in d.find_elements(By.CSS_SELECTOR, css):
            if text is None or text in e.text:
                return e
        return False

    # Polling pages re-render their tables: an element seen a moment ago may be gone.
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        found, message=f"no {css!r}" + (f" with {text!r}" if text else ""))


def _open(driver, url, shot):
    driver.get(url)
    # The router replaces "loading…" with the page or an error box.
    _wait(driver, "main h1, main .error")
    return shot


def _shoot(driver, name):
    RESULTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(RESULTS / f"{name}.png"))


def _severe(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _curve_points(driver):
    """Points of the drawn training loss; the page redraws it every second, so a line found a
    moment ago may be gone: read it again then."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(10):
        try:
            lines = driver.find_elements(By.CSS_SELECTOR,
                                         '#curves polyline.series[data-name="train/epoch_loss"]')
            return int(lines[0].get_attribute("data-points")) if lines else 0
        except StaleElementReferenceException:
            time.sleep(0.05)
    return 0


def test_every_page_shows_what_was_made(browser, digits, tmp_path, _isolated_home):
    from selenium.webdriver.common.by import By

    home = pathlib.Path(_isolated_home)
    run = mp.run(browser_pipeline, experiment="browser-exp").wait()
    assert run.status == "succeeded", run.error

    study = mlcore.hpo.create_study(name="browser-study", direction="minimize")
    study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2
                   + 0.1 * t.suggest_int("layers", 1, 4), n_trials=8)

    # A command trial that prints, then waits for a file before it ends: its page shows the
    # log's tail and follows it while it runs.
    go = tmp_path / "go"
    cmd_study = mlcore.hpo.create_study(name="browser-cmd", direction="minimize")
    cmd = mlcore.hpo.CommandObjective(
        command=(f"echo 'fitting, x={{x}}'; echo 'a warning' >&2; "
                 f"while [ ! -e {go} ]; do sleep 0.1; done; echo 'loss={{x}} done'"),
        metric="loss", search_space={"x": mlcore.hpo.FloatDistribution(0, 1)})
    cmd_thread = threading.Thread(target=lambda: cmd_study.optimize(cmd, n_trials=1))

    model_dir = tmp_path / "digits-model"
    x, y, _, _ = digits
    small = nn.Sequential([nn.Dense(16), nn.ReLU(), nn.Dense(10)])
    small.compile(optimizer=optim.Adam(1e-2), loss="cross_entropy")
    small.fit(x[:256], y[:256], epochs=1)
    small.save(str(model_dir))
    mlcore.models.register("browser-digits", model_dir, metrics={"accuracy": 0.91})
    mlcore.models.set_alias("browser-digits", "production", 1)

    server = mlcore.serve.Server(http_port=0, home=str(home), ui_home=str(home))
    server.add_model("digits", model_dir)
    server.start()

    # A fit that goes on while the browser watches: slow epochs, TensorBoard scalars.
    class Slow:
        def on_epoch_end(self, epoch, logs):
            time.sleep(0.5)

    live = nn.Sequential([nn.Dense(16), nn.ReLU(), nn.Dense(10)])
    live.compile(optimizer=optim.Adam(1e-2), loss="cross_entropy")
    fit_thread = threading.Thread(target=lambda: live.fit(
        x[:256], y[:256], epochs=12, callbacks=[nn.TensorBoard(home / "logs" / "live"), Slow()]))

    dash = mlcore.ui.start(home=str(home), port=0, token="tok")
    try:
        base = dash.url
        browser.get(base)
        browser.get_log("browser")  # start the console check from here

        # Pipelines: the run in the list, then its DAG with task states.
        _open(browser, base + "#/runs", "runs")
        _wait(browser, "main table", run.id)
        assert "browser-exp" in browser.find_element(By.CSS_SELECTOR, "main").text
        _shoot(browser, "runs")
        _open(browser, base + f"#/runs/{run.id}", "run")
        task = _wait(browser, '#dag svg g.task[data-task="fit"]')
        assert task.get_attribute("data-state") == "succeeded"
        states = {g.get_attribute("data-task"): g.get_attribute("data-state")
                  for g in browser.find_elements(By.CSS_SELECTOR, "#dag svg g.task")}
        assert states == {"load": "succeeded", "fit": "succeeded"}
        assert browser.find_elements(By.CSS_SELECTOR, "#dag svg polyline.edge")
        _shoot(browser, "run")
        # The load task's stdout, as the task printed it.
        browser.find_elements(By.CSS_SELECTOR, "main table button")[0].click()
        _wait(browser, "#log pre.log", "loaded 3 rows")
        # Its output artifact, and the lineage to the task that read it.
        browser.find_element(By.CSS_SELECTOR, 'main a[href^="#/artifacts/"]').click()
        _wait(browser, "main h1", "Artifact")
        _wait(browser, "main table", "fit")
        _shoot(browser, "artifact")

        # Experiments: the study, its trials and plots.
        _open(browser, base + "#/studies", "studies")
        _wait(browser, "main table", "browser-study")
        _open(browser, base + "#/studies/browser-study?sort=value", "study")
        _wait(browser, "#trials table", "#7")
        _wait(browser, "#plots svg.chart polyline.series")
        assert browser.find_elements(By.CSS_SELECTOR, "#plots svg.parallel polyline")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#plots svg.bars rect.bar")) == 2
        _shoot(browser, "study")
        # A command trial's stdout and stderr, live while it runs, then complete.
        cmd_thread.start()
        reader = mlcore.ui.Dashboard(str(home))
        deadline = time.time() + WAIT
        while time.time() < deadline:  # until the study has started its trial
            try:
                if reader.trial_log("browser-cmd", 0):
                    break
            except KeyError:
                pass
            time.sleep(0.05)
        _open(browser, base + "#/studies/browser-cmd/trials/0", "trial")
        _wait(browser, "#trial-stdout", "fitting, x=")
        _wait(browser, "#trial-stderr", "a warning")
        go.write_text("")
        _wait(browser, "#trial-stdout", "done")
        _wait(browser, "main table", "complete")
        _shoot(browser, "trial")

        # Models and servers.
        _open(browser, base + "#/models", "models")
        _wait(browser, "main table", "browser-digits")
        assert "production" in browser.find_element(By.CSS_SELECTOR, "main table").text
        _shoot(browser, "models")
        # Promote an alias from the page, with the token typed into the header.
        _open(browser, base + "#/models/browser-digits", "model")
        token = browser.find_element(By.ID, "token")
        token.send_keys("tok")
        browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", token)
        alias = browser.find_element(By.ID, "alias-name")
        alias.clear()
        alias.send_keys("canary")
        browser.find_element(By.CSS_SELECTOR, "main form button").click()
        _wait(browser, 'main span[data-alias="canary"]')
        assert mlcore.models.get("browser-digits@canary").version == 1
        _shoot(browser, "model")
        _open(browser, base + "#/servers", "servers")
        _wait(browser, "main table", server.url)
        _wait(browser, "main table tr", "running")
        _wait(browser, "main table tr", "digits")
        # Requests show up in the table at the server's next heartbeat.
        for _ in range(5):
            status, _, _ = request(server.url, "POST", "/v1/models/digits:predict",
                                   {"instances": x[:2].tolist()})
            assert status == 200
        from selenium.webdriver.support.ui import WebDriverWait
        from selenium.common.exceptions import StaleElementReferenceException
        WebDriverWait(browser, WAIT, poll_frequency=0.2,
                      ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: any(td.text == "5" for td in d.find_elements(By.CSS_SELECTOR, "main td.num")),
            message="the served requests never reached the servers page")
        _shoot(browser, "servers")
        _open(browser, base + "#/resources", "resources")
        _wait(browser, "main h2", "Devices")
        text = browser.find_element(By.CSS_SELECTOR, "main").text
        assert "CPU slots" in text and "null" not in text and "undefined" not in text
        assert "digits/1" in text  # the served model instance holds a CPU slot
        if not mlcore.ui.Dashboard(str(home)).resources()["gpus"]:  # "no GPU" with the reason
            reason = _wait(browser, "#no-gpu").text
            assert reason.startswith("No GPU: ") and len(reason) > len("No GPU: ") + 3, reason
        _shoot(browser, "resources")

        # Training: the curve grows while fit() runs in the background.
        fit_thread.start()
        deadline = time.time() + WAIT
        while not (home / "logs" / "live" / "train").exists() and time.time() < deadline:
            time.sleep(0.1)
        _open(browser, base + "#/training/live", "training")
        _wait(browser, '#curves polyline.series[data-name="train/epoch_loss"]')
        first = _curve_points(browser)
        deadline = time.time() + WAIT
        while _curve_points(browser) < first + 3 and time.time() < deadline:
            time.sleep(0.2)
        assert _curve_points(browser) >= first + 3, "the live curve did not grow"
        _shoot(browser, "training")

        assert _severe(browser) == []

        # Bad input: an unknown run shows a 404 message, not a stack trace.
        _open(browser, base + "#/runs/no-such-run", "missing")
        box = _wait(browser, 'main .error[data-status="404"]')
        assert "no-such-run" in box.text
        _shoot(browser, "missing")

        # The same pages mounted at /ui by the Python server (Server(ui_home=...)).
        browser.get_log("browser")  # the 404 above was logged on purpose
        _open(browser, server.url + "/ui/#/servers", "server-mount")
        _wait(browser, "main table", server.url)
        assert _severe(browser) == []
    finally:
        go.write_text("")
        if cmd_thread.is_alive():
            cmd_thread.join(timeout=60)
        if fit_thread.is_alive():
            fit_thread.join(timeout=60)
        dash.stop()
        server.stop()


def test_missing_store_is_a_clear_page(browser, tmp_path):
    dash = mlcore.ui.start(home=str(tmp_path / "empty"), port=0)
    try:
        _open(browser, dash.url + "#/runs", "empty")
        box = _wait(browser, 'main .error[data-status="503"]')
        assert "no mlcore store" in box.text
        _shoot(browser, "missing-store")
    finally:
        dash.stop()
    # A damaged store: the store's own message in the box, not a stack trace.
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "mlcore.db").write_bytes(b"x" * 8192)
    dash = mlcore.ui.start(home=str(damaged), port=0)
    try:
        _open(browser, dash.url + "#/studies", "damaged")
        box = _wait(browser, 'main .error[data-status="503"]')
        assert "Traceback" not in box.text and box.text.strip()
        _shoot(browser, "damaged-store")
    finally:
        dash.stop()
