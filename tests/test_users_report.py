"""A report you can read (issue 23, items 4 and 7): tables as HTML pages for the report, figure params shown as
sizes, and notes naming the code behind each number and why a floor can be negative."""
from __future__ import annotations

import pickle

import pandas as pd

from gan.layout import ALL_METRICS_TABLE, TABLE_FORMATS, TABLES, Layout
from gan.report.tables import code_notes, negative_floor_notes, to_html, write_table
from gan.status import SummarisedDict, SummarisedTuple, summarised


def test_every_table_has_an_html_page_with_its_caption_and_notes(tmp_path):
    assert "html" in TABLE_FORMATS
    assert Layout("r").table(ALL_METRICS_TABLE, "html") in Layout("r").tables()
    assert all(Layout("r").table(name, "html") in Layout("r").tables() for name in TABLES)
    display = pd.DataFrame({"dataset": ["digits"], "objective": ["wgan-gp"], "FID ↓": ["12.3 ± 0.4"]})
    paths = write_table(display, display, tmp_path, "t", "Final <scores>", ["note one", "a & b"])
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex", ".html"]
    page = (tmp_path / "t.html").read_text()
    assert "<h3>Final &lt;scores&gt;</h3>" in page and "<td>12.3 ± 0.4</td>" in page
    assert "<li>note one</li><li>a &amp; b</li>" in page and page.startswith("<!DOCTYPE html>")
    assert "(no rows)" in to_html(display.iloc[0:0], "empty")


def test_notes_name_the_code_behind_each_number():
    fid, kid_clf, w1 = code_notes(["fid", "kid_classifier", "w1", "fid", "no-such-metric"])
    # the project's own Fréchet distance, on clean-fid's Inception features: not "clean-fid's FID"
    assert fid.startswith("FID (fid): computed by gan.metrics.feature_distances.fd (")
    assert "on the 'pool' features of the 'inception' extractor (gan.metrics.inception: " in fid
    assert kid_clf.startswith("KID (classifier features) (kid_classifier): computed by gan.metrics.feature_distances.kid")
    assert "'embedding' features of the 'classifier' extractor" in kid_clf
    assert w1.startswith("W1 to real data (w1): computed by gan.metrics.toy.w1 (")


def test_a_negative_floor_is_explained_once_per_metric():
    floors = pd.DataFrame({"dataset": ["digits", "mnist", "digits"], "metric": ["kid_classifier"] * 2 + ["fid"],
                           "floor_mean": [-1645.0, -3.0, 2.0]})
    (note,) = negative_floor_notes(floors)
    assert note.startswith("KID (classifier features) (kid_classifier) has a negative floor (digits -1645, mnist")
    assert "unbiased estimate" in note and "0 for identical distributions" in note
    assert negative_floor_notes(floors[floors.floor_mean > 0]) == [] and negative_floor_notes(None) == []


def test_long_params_show_as_sizes_in_the_report_but_keep_their_value():
    params = summarised({"runs": [("d", "o", s) for s in range(12)], "inputs": {f"k{i}": i for i in range(5)},
                         "datasets": ["a", "b"]})
    assert str(params["runs"]) == "<12 entries>" and str(params["inputs"]) == "<5 named inputs>"
    assert params["datasets"] == ["a", "b"] and type(params["datasets"]) is list
    # Snakemake's rerun check compares repr(); the job unpickles the full value
    assert repr(params["runs"]) == repr(tuple(("d", "o", s) for s in range(12)))
    again = pickle.loads(pickle.dumps(params))
    assert isinstance(again["runs"], SummarisedTuple) and isinstance(again["inputs"], SummarisedDict)
    assert again["inputs"] == {f"k{i}": i for i in range(5)}
