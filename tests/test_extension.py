""""One registered unit" proved, not claimed: an objective, a toy dataset, a metric, a feature extractor with its own
weights file, a metric of that extractor's feature and a figure, each in one new file outside the package, run
through the smoke DAG and found in its tables, figures and report."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from workflow_helpers import SIDE_STAGES_OFF, complete_config, copy_workflow, smoke_config, snakemake, write_config

EXTENSION = Path(__file__).parent / "extension"


@pytest.mark.slow
def test_plugin_objective_dataset_and_metric_reach_the_tables_and_figures(tmp_path):
    work = copy_workflow(tmp_path / "work")
    config = smoke_config(
        experiment="gan-bench-extension",
        seeds=[0],
        objectives=["gan", "lsgan"],
        plugins=[str(EXTENSION / f) for f in ("lsgan.py", "ring.py", "radius_metric.py", "pixnet.py", "pixnet_gap.py",
                                              "pixnet_figure.py")],
        objective_settings={},
        datasets={"ring6": {"dataset": "ring", "options": {"modes": 6},
                            "train": {"model": "toy", "width": 64, "steps": 60, "batch_size": 64, "log_every": 10},
                            "checkpoint_steps": [30, 60], "samples": 300, "n_real": 300},
                  "digits": {"train": {"model": "dcgan", "width": 8, "steps": 40, "batch_size": 32, "log_every": 10},
                             "checkpoint_steps": [20, 40], "samples": 200, "extractors": ["pixnet"]}},
        scoring={"reference_split": "test", "n_real": 150},
        mlflow={"enabled": False},
        **SIDE_STAGES_OFF,
    )
    path = write_config(work, "extension.yaml", config)
    snakemake(work, "--cores", "2", *complete_config(path.relative_to(work)))
    results = work / "results/gan-bench-extension"
    scores = pd.read_csv(results / "tables/scores.csv")
    assert set(scores.objective) == {"gan", "lsgan"} and set(scores.dataset) == {"ring6", "digits"}
    ok = scores[scores.status == "ok"]
    ring, digits = ok[ok.dataset == "ring6"], ok[ok.dataset == "digits"]
    assert ring.radius_gap.notna().all() and ring.modes_covered.notna().all()
    # the plugin extractor's weights came through the generic fetch rule, checked against their pinned sha256
    assert (work / "resources/pixnet.npz").read_bytes() == (EXTENSION / "pixnet.npz").read_bytes()
    for column in ("fd_pixnet", "kid_pixnet", "pixnet_gap"):  # the package's FD/KID and the plugin metric
        assert digits[column].notna().all(), column
    final = pd.read_csv(results / "tables/final_scores_all_metrics.csv")
    assert {"fd_pixnet", "pixnet_gap"} <= set(final.metric)
    floors = pd.read_csv(results / "tables/floors.csv")
    assert {"fd_pixnet", "pixnet_gap"} <= set(floors[floors.dataset == "digits"].metric)
    assert (results / "figures/pixnet_gap.png").stat().st_size > 0  # the plugin figure
    snakemake(work, *complete_config(path.relative_to(work)), "--report", str(results / "report.html"))
    html = (results / "report.html").read_text(errors="replace")
    assert "pixnet_gap" in html and "figure registered by a plugin file" in html
    assert ok.modes_covered.max() <= 6  # the ring's own centres, from its registration
    toy = pd.read_csv(results / "tables/toy.csv")
    assert "lsgan" in set(toy.objective) and any("radius" in c for c in toy.columns)
    summary = (results / "runs/ring6/lsgan/seed0/summary.json").read_text()
    assert '"objective": "lsgan"' in summary and '"dataset": "ring6"' in summary
    for stem in ("samples_ring6", "critic_ring6", "toy_critics", "convergence_steps"):
        assert (results / f"figures/{stem}.png").stat().st_size > 0
