"""A report you can read (issue 23, item 4): tables as HTML pages for the report, figure params shown as
sizes."""
from __future__ import annotations

import pickle

import pandas as pd

from gan.layout import ALL_METRICS_TABLE, TABLE_FORMATS, TABLES, Layout
from gan.report.tables import to_html, write_table
from gan.status import SummarisedDict, SummarisedList, summarised


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


def test_long_params_show_as_sizes_in_the_report_but_keep_their_value():
    params = summarised({"runs": [("d", "o", s) for s in range(12)], "inputs": {f"k{i}": i for i in range(5)},
                         "datasets": ["a", "b"]})
    assert str(params["runs"]) == "<12 entries>" and str(params["inputs"]) == "<5 named inputs>"
    assert params["datasets"] == ["a", "b"] and type(params["datasets"]) is list
    # Snakemake's rerun check compares repr(); the job unpickles the full value
    assert repr(params["runs"]) == repr([("d", "o", s) for s in range(12)])
    again = pickle.loads(pickle.dumps(params))
    assert isinstance(again["runs"], SummarisedList) and isinstance(again["inputs"], SummarisedDict)
    assert again["inputs"] == {f"k{i}": i for i in range(5)}
