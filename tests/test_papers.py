"""The papers' small analytic experiments (gan.wgan_examples): WGAN Example 1 / Figure 1, WGAN Figure 2 and
WGAN-GP Figure 1(b), their figures (gan.report.figures.papers) and their stages in the smoke DAG
(workflow/rules/papers.smk)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gan.config import ConfigError
from gan.grid import BenchmarkGrid
from gan.layout import Layout
from gan.wgan_examples import (STAGES, deep_critic_run, example1_closed_forms, example1_estimates, example1_thetas,
                               figure1b_constraints, load_npz)
from workflow_helpers import (SMOKE, SMOKE_RESULTS, complete_config, copy_workflow, job_counts, smoke_config, snakemake,
                              write_config)

# smaller than config/smoke.yaml's blocks: seconds per test on one core
EXAMPLE1 = dict(steps=300, batch_size=256, width=64, lr=1e-3, gp_lambda=10.0)
DEEP = dict(depth=12, width=64, steps=150, batch_size=64, noise_std=1.0, seed=0)


def test_example1_closed_forms_are_the_papers_formulas():
    theta = np.array([-1.0, -0.3, 0.0, 1e-9, 0.5, 2.0])
    forms = example1_closed_forms(theta)
    for t, w, js, kl, tv in zip(theta, forms["W"], forms["JS"], forms["KL"], forms["TV"]):
        apart = t != 0
        assert w == abs(t)  # W(P_0, P_theta) = |theta|
        assert js == (math.log(2) if apart else 0.0)  # JS = log 2 as soon as the supports are disjoint
        assert kl == (math.inf if apart else 0.0)  # KL = +inf
        assert tv == (1.0 if apart else 0.0)  # TV = 1
    grid = example1_thetas(1.0, 5)
    assert grid.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]  # odd n: theta = 0 is on the grid


@pytest.mark.parametrize("theta", [0.5, 1.0])
def test_trained_discriminator_finds_log2_for_disjoint_supports_and_critic_finds_theta(theta):
    est = example1_estimates(theta, seed=0, **EXAMPLE1)
    assert abs(est["js_estimate"] - math.log(2)) < 0.02  # measured: within 0.009 of log 2
    assert abs(est["w_estimate"] - abs(theta)) < 0.15 * abs(theta)  # measured: within 6 %


def test_trained_discriminator_finds_nothing_at_theta_zero():
    est = example1_estimates(0.0, seed=0, **EXAMPLE1)
    assert abs(est["js_estimate"]) < 0.02 and abs(est["w_estimate"]) < 0.05


@pytest.fixture(scope="module")
def deep_critics():
    runs = {}
    for label, constraint, c in figure1b_constraints([0.01, 0.001]):
        runs[label] = deep_critic_run("swissroll", constraint, lr=5e-5 if c else 1e-3, clip_value=c,
                                      gp_lambda=None if c else 10.0, optimizer="rmsprop-tf" if c else "adam", **DEEP)
    return runs


def test_clipping_at_0001_gradients_shrink_through_every_layer(deep_critics):
    norms = deep_critics["clipping c=0.001"]["norms"][-1]  # layer 0 (the input) first
    assert norms.shape == (DEEP["depth"] + 1,)
    assert norms[-1] > 0 and np.all(np.diff(norms) >= 0)  # never grows on the way back to the input
    positive = norms[norms > 0]
    # each clipped layer multiplies the gradient by about c sqrt(width / 2) = 0.006 (measured: 1/170 to 1/270)
    assert np.all(positive[1:] / positive[:-1] > 10)
    assert norms[0] < 1e-20  # at the input: nothing left (it underflows in float32)


def test_penalty_keeps_the_input_gradient_in_a_band_around_one(deep_critics):
    norms = deep_critics["penalty"]["norms"]
    last = norms[len(norms) // 2:, 0]  # the input's norm over the second half of training
    assert np.all((last > 0.6) & (last < 1.5)), last  # measured: 0.91 to 1.19
    # and no layer's gradient vanishes as under clipping
    assert norms[-1].min() > 0.1


def test_clipped_weights_concentrate_at_plus_minus_c(deep_critics):
    for label, c in (("clipping c=0.01", 0.01), ("clipping c=0.001", 0.001)):
        w = deep_critics[label]["weights"]
        assert np.abs(w).max() <= c * (1 + 1e-6)
        assert np.mean(np.isclose(np.abs(w), c, rtol=1e-3)) > 0.9  # measured: 97 % and 99.7 %
    w = deep_critics["penalty"]["weights"]
    assert np.mean(np.isclose(np.abs(w), np.abs(w).max(), rtol=1e-3)) < 0.01  # a spread, no spike


def test_every_stage_writes_its_figure_and_table(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from gan.report.figures.papers import make_paper_figure, stage_files
    from gan.wgan_examples import compute_stage

    grid = BenchmarkGrid(smoke_config())
    layout = Layout(str(tmp_path / "results"))
    tiny = {"wgan_example1": {"n_theta": 3, "steps": 20}, "wgan_figure2": {"steps": 20},
            "wgangp_figure1b": {"steps": 10, "depth": 4}}
    for stage in STAGES:
        data = layout.paper_stage_data(stage)
        compute_stage(stage, data, {**grid.papers[stage], **tiny[stage]})
        files = stage_files(layout, stage)
        written = make_paper_figure(stage, data, figure_paths=[files["png"]], table_csv=files["table_csv"],
                                    table_html=files["table_html"])
        assert written["figure"][0].stat().st_size > 10_000
        assert len(pd.read_csv(files["table_csv"])) > 0
        assert written["table"] == [Path(files["table_csv"]), Path(files["table_html"])]
        page = Path(files["table_html"]).read_text()  # the table's page in the report
        assert page.count("<tr") == 1 + len(pd.read_csv(files["table_csv"]))
        assert load_npz(data)["settings"]["steps"] == tiny[stage]["steps"]


def test_figure1b_dataset_must_be_points():
    with pytest.raises(ConfigError, match="wgangp_figure1b.dataset"):
        BenchmarkGrid(smoke_config(wgangp_figure1b={"dataset": "digits"}))


def test_smoke_dag_lists_the_paper_stages(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    proc = snakemake(work, *SMOKE, "-n")
    counts = job_counts(proc.stdout)
    assert counts.get("paper_stage_data") == 3, counts
    assert all(counts.get(stage) == 1 for stage in STAGES), counts
    assert f"{SMOKE_RESULTS}/wgangp_figure1b/wgangp_figure1b.png" in proc.stdout
    # disabled: not part of the default target
    config = smoke_config(**{stage: {"enabled": False} for stage in STAGES})
    write_config(work, "off.yaml", config)
    counts = job_counts(snakemake(work, "--cores", "2", *complete_config("config/off.yaml"), "-n").stdout)
    assert "paper_stage_data" not in counts and not set(STAGES) & set(counts), counts


def test_paper_config_has_the_gradient_penalty_rmsprop_arm():
    """WGAN-GP Figure 3's fourth arm: the penalty with the clipping arm's optimiser, on CIFAR-10 only (an objective
    entry restricted to the datasets of the paper's figure), every other dataset running gan, wgan and wgan-gp."""
    import yaml

    from gan.config import resolve
    from workflow_helpers import ROOT

    grid = BenchmarkGrid(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    assert "wgan-gp-rmsprop" in grid.objectives
    assert {d for d, o, _ in grid.runs() if o == "wgan-gp-rmsprop"} == {"cifar10"}
    assert len(grid.runs()) == len(grid.datasets) * 3 * len(grid.seeds) + len(grid.seeds)
    arm, adam = (resolve(grid.train_config("cifar10", o, 0), build=False) for o in ("wgan-gp-rmsprop", "wgan-gp"))
    clipping = resolve(grid.train_config("cifar10", "wgan", 0), build=False)
    assert arm.objective == "wgan-gp" and arm.critic_norm == "none"
    assert arm.hyperparameters["optimizer"] == clipping.hyperparameters["optimizer"] == "rmsprop-tf"
    assert arm.hyperparameters["lr"] == 5e-5
    assert arm.hyperparameters.get("gp_lambda") == adam.hyperparameters.get("gp_lambda")


def test_an_objective_entry_restricted_to_unknown_datasets_is_refused():
    config = smoke_config(objectives=["gan", {"name": "gan-b", "objective": "gan", "datasets": ["mnist"]}])
    with pytest.raises(ConfigError, match=r"objectives \(gan-b\)\.datasets: 'mnist' is not a dataset entry"):
        BenchmarkGrid(config)


def test_modes_config_validates_and_its_dag_builds(tmp_path):
    """config/modes.yaml: stacked digits x (gan, wgan, wgan-gp) x 5 seeds, scored by the stacked-mode metrics."""
    import yaml

    from gan.schema import validate
    from workflow_helpers import ROOT

    config = yaml.safe_load((ROOT / "config" / "modes.yaml").read_text())
    validate(config)
    grid = BenchmarkGrid(config)
    assert grid.datasets == ["stacked_digits"] and grid.objectives == ["gan", "wgan", "wgan-gp"]
    assert len(grid.seeds) >= 5 and not any(grid.papers[s]["enabled"] for s in STAGES)
    work = copy_workflow(tmp_path / "wf")
    counts = job_counts(snakemake(work, "--cores", "2", *complete_config("config/modes.yaml"), "-n").stdout)
    assert counts["train"] == 3 * len(grid.seeds) and counts["floor"] == 1, counts
    assert "optimal_critic" not in counts and "paper_stage_data" not in counts, counts
