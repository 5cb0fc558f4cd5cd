"""The DAG drawing of pipelines and runs: inside the HTML that notebooks show, for past runs
too, and laid out so that no edge runs under a box it does not connect."""

import xml.etree.ElementTree as ET

import pytest

import mlcore.pipelines as mp
from mlcore.pipelines import _view

SVG = "{http://www.w3.org/2000/svg}"


@mp.component
def source() -> int:
    return 2


@mp.component
def double(x: int) -> int:
    return 2 * x


@mp.component
def add(a: int, b: int) -> int:
    return a + b


@mp.pipeline
def diamond():
    s = source()
    d = double(x=s.output)
    add(a=s.output, b=d.output)  # source -> add skips a column: it must not pass under double


def crosses(p, q, box, inset=0.5):
    """Whether segment p-q passes through the inside of box (x, y, w, h)."""
    x0, y0 = box[0] + inset, box[1] + inset
    x1, y1 = box[0] + box[2] - inset, box[1] + box[3] - inset
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for pp, qq in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if pp == 0:
            if qq < 0:
                return False
            continue
        r = qq / pp
        if pp < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
    return t0 < t1


def test_a_diamond_is_drawn_as_a_diamond():
    layout = _view.dag_layout(diamond.build().to_json())
    boxes = {n["name"]: n["box"] for n in layout["nodes"]}
    assert [n["column"] for n in layout["nodes"]] == [0, 1, 2]
    for e in layout["edges"]:
        for p, q in zip(e["points"], e["points"][1:]):
            for name, box in boxes.items():
                assert not crosses(p, q, box), f"{e['from']} -> {e['to']} crosses {name}"
    skip = next(e for e in layout["edges"] if (e["from"], e["to"]) == ("source", "add"))
    assert len(skip["points"]) >= 3  # bends through a lane of its own


def test_the_drawing_is_inside_the_html_notebooks_show(tmp_path):
    page = diamond._repr_html_()
    svg = ET.fromstring(page[page.index("<svg"):page.index("</svg>") + 6])
    assert len(svg.findall(f".//{SVG}rect")) == 3
    assert len(svg.findall(f".//{SVG}polyline")) == 3
    assert svg.find(f".//{SVG}marker") is not None  # arrowheads

    run = mp.run(diamond, home=str(tmp_path)).wait()
    assert run.status == "succeeded", run.error
    page = run._repr_html_()
    assert page.count('data-state="succeeded"') == 3
    assert "<table>" in page and "duration" in page


def test_past_runs_are_drawn_from_the_store(tmp_path):
    first = mp.run(diamond, home=str(tmp_path)).wait()
    past = mp.runs(home=str(tmp_path))[-1]
    assert past.id == first.id
    assert past._pipeline is None  # nothing but the store to draw from
    for r in (past, mp.get_run(first.id, home=str(tmp_path))):
        svg = r._repr_svg_()
        assert svg.count("<rect") == 3 and svg.count("<polyline") == 3
        assert 'data-task="double" data-state="succeeded"' in svg


def test_a_notebook_shows_the_drawing(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = f"""
import mlcore.pipelines as mp

@mp.component
def one() -> int:
    return 1

@mp.component
def inc(x: int) -> int:
    return x + 1

@mp.pipeline
def chain():
    inc(x=one().output)

mp.run(chain, home={str(tmp_path)!r}).wait()
mp.runs(home={str(tmp_path)!r})[-1]
"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    shown = [o["data"] for o in nb.cells[0]["outputs"] if o.get("output_type") == "execute_result"]
    assert shown, nb.cells[0]["outputs"]
    assert "<svg" in shown[0]["text/html"]
    assert shown[0]["text/html"].count('data-state="succeeded"') == 2


def test_long_names_fit_and_keep_their_full_name_on_hover():
    name = "a_component_with_a_very_long_and_descriptive_name_for_its_work"

    @mp.component(name=name)
    def long_one() -> int:
        return 1

    @mp.pipeline
    def p():
        long_one()

    layout = _view.dag_layout(p.build().to_json())
    node = layout["nodes"][0]
    assert node["label"].endswith("\u2026") and len(node["label"]) < len(node["name"])
    assert node["box"][2] <= 240
    assert f"<title>{node['name']}</title>" in _view.dag_svg(p.build().to_json())
