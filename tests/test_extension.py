""""One registered unit" proved, not claimed: an objective, a toy dataset and a metric, each in one new file
outside the package, run through the smoke DAG and found in its tables and figures."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from workflow_helpers import complete_config, copy_workflow, smoke_config, snakemake, write_config

EXTENSION = Path(__file__).parent / "extension"


@pytest.mark.slow
def test_plugin_objective_dataset_and_metric_reach_the_tables_and_figures(tmp_path):
    work = copy_workflow(tmp_path / "work")
    config = smoke_config(
        experiment="gan-bench-extension",
        seeds=[0],
        objectives=["gan", "lsgan"],
        plugins=[str(EXTENSION / f) for f in ("lsgan.py", "ring.py", "radius_metric.py")],
        objective_settings={},
        datasets={"ring6": {"dataset": "ring", "options": {"modes": 6},
                            "train": {"model": "toy", "width": 64, "steps": 60, "batch_size": 64, "log_every": 10},
                            "checkpoint_steps": [30, 60], "samples": 300, "n_real": 300}},
        mlflow={"enabled": False},
        figure1a={"enabled": False},
    )
    path = write_config(work, "extension.yaml", config)
    snakemake(work, "--cores", "2", *complete_config(path.relative_to(work)))
    results = work / "results/gan-bench-extension"
    scores = pd.read_csv(results / "tables/scores.csv")
    assert set(scores.objective) == {"gan", "lsgan"} and set(scores.dataset) == {"ring6"}
    ok = scores[scores.status == "ok"]
    assert ok.radius_gap.notna().all() and ok.modes_covered.notna().all()
    assert ok.modes_covered.max() <= 6  # the ring's own centres, from its registration
    toy = pd.read_csv(results / "tables/toy.csv")
    assert "lsgan" in set(toy.objective) and any("radius" in c for c in toy.columns)
    summary = (results / "runs/ring6/lsgan/seed0/summary.json").read_text()
    assert '"objective": "lsgan"' in summary and '"dataset": "ring6"' in summary
    for stem in ("samples_ring6", "critic_ring6", "toy_critics", "convergence_steps"):
        assert (results / f"figures/{stem}.png").stat().st_size > 0
