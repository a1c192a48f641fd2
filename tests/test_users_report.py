"""A report you can read (issue 23, items 4, 6 and 7): every table the report lists an HTML page, figure params
shown as sizes, notes naming the code behind each number and why a floor can be negative, and the samples figures
beside a real-data panel drawn from a declared input."""
from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from gan.layout import ALL_METRICS_TABLE, TABLE_FORMATS, TABLES, Layout
from gan.report.tables import code_notes, negative_floor_notes, to_html, write_html, write_table
from gan.status import SummarisedDict, SummarisedTuple, summarised
from workflow_helpers import copy_workflow


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


def test_a_long_table_page_shows_evenly_spaced_rows_and_says_so(tmp_path):
    df = pd.DataFrame({"dataset": ["d"] * 7, "step": range(7), "loss": [0.123456] * 7})
    page = write_html(df, tmp_path / "training.html", "Training", max_rows=3).read_text()
    assert page.count("<tr") == 1 + 3  # the header and rows 0, 3, 6
    assert "<td>6</td>" in page and "<td>5</td>" not in page and "<td>0.123</td>" in page
    assert "<li>3 of the 7 rows are shown, one in 3 from the first; training.csv holds them all.</li>" in page
    assert "rows are shown" not in write_html(df, tmp_path / "all.html", "All", max_rows=7).read_text()


# what the report lists: every output a rule marks with report(), with its category (Snakemake's own parse)
REPORTED = textwrap.dedent("""
    from pathlib import Path
    from snakemake.api import SnakemakeApi
    from snakemake.io import is_flagged
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings
    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        wf = api.workflow(resource_settings=ResourceSettings(cores=1), storage_settings=StorageSettings(),
                          config_settings=ConfigSettings(configfiles=[Path("config/smoke.yaml")],
                                                         replace_workflow_config=True),
                          snakefile=Path("Snakefile"), workdir=Path("."))
        wf.dag()
        for rule in wf._workflow.rules:
            for f in rule.output:
                if is_flagged(f, "report"):
                    print(rule.name, f.flags["report"].category, f, *rule.output, sep="\t")
""")


@pytest.mark.dag
def test_every_table_the_report_lists_is_an_html_page_beside_its_csv(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    proc = subprocess.run([sys.executable, "-c", REPORTED], capture_output=True, text=True, cwd=work, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = [line.split("\t") for line in proc.stdout.splitlines() if line.count("\t") >= 2]
    tables = {path: outputs for _, category, path, *outputs in listed if category == "Tables"}
    # nothing the report lists is a file its icon only downloads: pictures and HTML pages
    assert {path.rsplit(".", 1)[-1] for _, _, path, *_ in listed} == {"html", "pdf", "png"}, listed
    layout = Layout("results/gan-bench-smoke")
    expected = [layout.aggregate(name, "html") for name in ("scores", "training", "runs", "floors")]
    expected += [layout.table(name, "html") for name in (*TABLES, ALL_METRICS_TABLE)]
    expected += [layout.figure_table("critic_correlation", fmt="html"), layout.figure1a_table("html")]
    expected += [layout.figure_table(s, s, "html") for s in ("wgan_example1", "wgan_figure2", "wgangp_figure1b")]
    assert sorted(tables) == sorted(expected)
    for page, outputs in tables.items():  # the data stay an output of the rule that writes the page
        assert page.removesuffix(".html") + ".csv" in outputs, (page, outputs)


# ------------------------------------------------------------------------------------------ the real-data panel

def test_the_samples_figures_declare_the_prepared_data_and_draw_a_seeded_real_panel(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from gan.datasets import dataset_spec, load_prepared, prepare_dataset, to_uint8
    from gan.metrics.reference import reference_subset
    from gan.report.figures import FigureOptions, samples
    from gan.report.figures.style import InputFiles
    from gan.report.inputs import FIGURE_INPUTS, Benchmark
    from gan.report.registry import figures_stage

    layout = Layout(str(tmp_path / "results"))
    datasets = ["8gaussians", "digits"]
    benchmark = Benchmark(layout=layout, datasets=datasets, toy_datasets=["8gaussians"],
                          runs=[(d, "wgan-gp", 0) for d in datasets], checkpoint_steps={d: [10] for d in datasets},
                          references={"8gaussians": "ref.npz"}, real_split="test", eval_seed=7)
    stage = figures_stage(benchmark, formats=("png",))
    # the figures rule declares each dataset's prepared file (prepare_data's output), with the split and seed
    assert stage.inputs["real_data"] == [layout.prepared(d) for d in datasets]
    assert [(r["dataset"], r["split"], r["seed"]) for r in stage.values["real_data"]] == \
        [(d, "test", 7) for d in datasets]
    planned = {p.stem: p for p in stage.plan if p.spec.module == samples.__name__}
    assert sorted(planned) == ["samples_8gaussians", "samples_digits", "samples_strip_8gaussians",
                               "samples_strip_digits"]
    assert all("real_data" in p.spec.inputs for p in planned.values())

    for d in datasets:
        prepare_dataset(dataset_spec(d), tmp_path / "downloads", layout.prepared(d))
    drawn = {}
    monkeypatch.setattr(samples, "save_figures", lambda fig, paths: drawn.setdefault(paths[0].stem, fig) and paths)
    real = FIGURE_INPUTS["real_data"].load(stage.values["real_data"])
    runs = pd.DataFrame({"dataset": datasets, "objective": "wgan-gp", "seed": 0, "status": "finished"})
    for stem, p in planned.items():
        p.spec.draw([tmp_path / f"{stem}.png"], p, FigureOptions(), runs=runs, samples=InputFiles(), real_data=real)

    # images: the grid of the scoring split's seeded subset, as large as the generated panels' grids
    images = load_prepared(layout.prepared("digits"), "test").images
    for stem, n in (("samples_digits", 64), ("samples_strip_digits", 36)):
        (ax,) = [ax for ax in drawn[stem].axes if ax.get_title().startswith("real data")]
        assert ax.get_title() == f"real data · test split\nN = {n} · seed 7"
        subset = to_uint8(images[torch.from_numpy(reference_subset(len(images), n, 7))]).numpy()
        assert np.array_equal(ax.images[0].get_array(), samples.image_grid(subset))
    # 2-D points: the distribution's points drawn with the seed, on the generated scatter's axes
    toy = load_prepared(layout.prepared("8gaussians"))
    points = toy.sample(samples.POINTS_SHOWN, torch.Generator().manual_seed(7))
    for stem in ("samples_8gaussians", "samples_strip_8gaussians"):
        (ax,) = [ax for ax in drawn[stem].axes if ax.get_title().startswith("real data")]
        assert ax.get_title() == f"real data\nN = {samples.POINTS_SHOWN} · seed 7"
        assert np.allclose(ax.collections[0].get_offsets(), points.numpy())
        assert ax.get_xlim() == ax.get_ylim() == (-3.0, 3.0)
    # the generated panels stay as they were (here: a run without samples says so)
    texts = [t.get_text() for ax in drawn["samples_digits"].axes for t in ax.texts]
    assert texts == ["wgan-gp · seed 0\nno samples"]
    # not given (a caller without the input) or unreadable: the panel says so
    assert samples.RealData().get("digits", 64) is None
    with pytest.warns(UserWarning, match="real data of digits"):
        missing = samples.RealData([{"dataset": "digits", "kind": "images", "split": "test", "seed": 7,
                                     "path": str(tmp_path / "none.pt")}]).get("digits", 64)
    assert missing["status"] == "missing" and "prepare_data" in missing["reason"]
