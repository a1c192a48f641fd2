"""The Snakemake DAG end to end on the smoke config, through the command users type, and its bad configs."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from workflow_helpers import SMOKE, SMOKE_RESULTS, complete_config, copy_workflow, job_counts, smoke_config, snakemake, write_config


def _expected_rows():
    config = smoke_config()
    steps = {d: len(spec["checkpoint_steps"]) for d, spec in config["datasets"].items()}
    return sum(steps.values()) * len(config["objectives"]) * len(config["seeds"])


@pytest.mark.slow
def test_smoke_run_fills_the_tidy_table(smoke_run):
    config = smoke_config()
    scores = pd.read_csv(smoke_run / SMOKE_RESULTS / "tables/scores.csv")
    assert len(scores) == _expected_rows() == 36  # 2 datasets x 3 objectives x 2 seeds x 3 checkpoints
    assert not scores.duplicated(["dataset", "objective", "seed", "step"]).any()
    ok = scores[scores.status == "ok"]
    toy = ok[ok.dataset == "8gaussians"]
    assert len(toy) and np.isfinite(toy.w1).all() and np.isfinite(toy.modes_covered).all()
    digits = ok[ok.dataset == "digits"]
    assert len(digits) and np.isfinite(digits.fd_classifier).all() and np.isfinite(digits.classes_covered).all()
    prdc = ["precision", "recall", "density", "coverage"]  # in every space with per-sample features
    assert np.isfinite(toy[[f"{k}_points" for k in prdc]].to_numpy(float)).all()
    assert np.isfinite(digits[[f"{k}_classifier" for k in prdc]].to_numpy(float)).all()
    # missing scores only where the run diverged, with the reason
    missing = scores[scores.status != "ok"]
    assert all("diverged" in str(reason) for reason in missing.reason)
    for dataset, spec in config["datasets"].items():
        for objective in config["objectives"]:
            for seed in config["seeds"]:
                run = smoke_run / SMOKE_RESULTS / f"runs/{dataset}/{objective}/seed{seed}"
                summary = json.loads((run / "summary.json").read_text())
                assert summary["status"] in ("finished", "diverged")
                assert (run / "metrics.csv").exists()
                for step in spec["checkpoint_steps"]:
                    assert (run / f"samples/step{step:07d}.npz").exists()
                    assert (run / f"scores/step{step:07d}.json").exists()
                    if summary["status"] == "finished":
                        assert (run / f"checkpoints/step{step:07d}.pt").exists()
    provenance = json.loads((smoke_run / SMOKE_RESULTS / "provenance.json").read_text())
    assert provenance["config_hash"] and provenance["versions"]["torch"] and "hardware" in provenance


@pytest.mark.slow
def test_smoke_run_writes_every_table_and_figure(smoke_run):
    tables = smoke_run / SMOKE_RESULTS / "tables"
    for name in ("final_scores", "pairwise", "toy"):
        for ext in ("csv", "md", "tex", "html"):
            assert (tables / f"{name}.{ext}").stat().st_size > 0
    final = pd.read_csv(tables / "final_scores.csv")
    assert set(final.objective) == {"gan", "wgan", "wgan-gp"} and set(final.dataset) == {"8gaussians", "digits"}
    pngs = sorted((smoke_run / SMOKE_RESULTS / "figures").glob("*.png"))
    assert len(pngs) >= 10
    for png in pngs:
        pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert pixels.std() > 5, f"{png.name} looks blank"
    assert len(list((smoke_run / SMOKE_RESULTS / "figures").glob("*.pdf"))) == len(pngs)


@pytest.mark.slow
def test_the_demo_shows_learning(smoke_run):
    """The README demo shows the claim in miniature, on its own numbers, on any machine.

    Which modes a 1,000-iteration toy run reaches is chaotic: the CPU's floating-point kernels change it, so a
    threshold on one seed's mode count fails somewhere (the 20%-share rule gave 3 and 6 on one machine, 0 to 7
    over 12 seeds). The checks below are the ones that held with a margin on every seed measured (12 seeds of the
    demo's 8-gaussians runs, docs/MEASUREMENTS.md): WGAN-GP's W1 (0.090-0.163 against a floor of about 0.074,
    the others' best 0.190) is the lowest of the three and within 3x the floor, it covers at least 5 of the 8
    modes on average (worst seed 5), and every objective's digits improve between the checkpoints."""
    scores = pd.read_csv(smoke_run / SMOKE_RESULTS / "tables/scores.csv")
    floors = pd.read_csv(smoke_run / SMOKE_RESULTS / "tables/floors.csv").set_index(["dataset", "metric"])
    toy = scores[(scores.dataset == "8gaussians") & (scores.step == scores.step.max())]
    w1 = toy.groupby("objective").w1.mean()
    assert w1.idxmin() == "wgan-gp", w1
    assert w1["wgan-gp"] < 3 * floors.loc[("8gaussians", "w1"), "floor_mean"], w1
    assert toy[toy.objective == "wgan-gp"].modes_covered.mean() >= 5
    digits = scores[scores.dataset == "digits"].groupby(["objective", "step"]).fd_classifier.mean().unstack()
    first, last = digits.columns.min(), digits.columns.max()
    assert (digits[last] < digits[first]).all(), digits
    assert digits[last].min() < 10 * floors.loc[("digits", "fd_classifier"), "floor_mean"]


@pytest.mark.slow
def test_rerun_does_nothing_and_a_new_seed_adds_only_its_jobs(smoke_run):
    again = snakemake(smoke_run, "-n", *SMOKE)
    assert "Nothing to be done" in again.stdout + again.stderr
    path = write_config(smoke_run, "smoke_3seeds.yaml", smoke_config(seeds=[0, 1, 2]))
    plan = job_counts(snakemake(smoke_run, "-n", "--cores", "2", *complete_config(path)).stdout)
    config = smoke_config()
    assert plan["train"] == len(config["datasets"]) * len(config["objectives"])  # seed 2 only
    assert plan["sample"] == plan["score"] == plan["train"]  # one evaluation job of each per run
    for rule in ("prepare_data", "reference", "train_classifier"):
        assert rule not in plan  # shared per-dataset work is reused


@pytest.mark.slow
def test_report_builds(smoke_run):
    snakemake(smoke_run, *complete_config("config/smoke.yaml"), "--report", f"{SMOKE_RESULTS}/report.html")
    html = (smoke_run / SMOKE_RESULTS / "report.html").read_text(errors="replace")
    assert "convergence_steps" in html and "final_scores.html" in html  # tables as pages shown in the report
    # every file the report lists is shown inside it: no table is a CSV or Markdown file its icon only downloads
    listed = dict(re.findall(r'"(results/[^"]+)": \{"name": .*?"mime_type": "([^"]+)"', html))
    assert listed and set(listed.values()) <= {"text/html", "image/png", "application/pdf"}, listed
    assert {f"{SMOKE_RESULTS}/tables/training.html", f"{SMOKE_RESULTS}/figures/critic_correlation.html"} <= set(listed)
    # the workflow's description and every run's samples by checkpoint (a page per run)
    assert "real-vs-real floor" in html and "Samples of every run" in html
    assert html.count("by_step.png") >= len(smoke_config()["objectives"]) * len(smoke_config()["seeds"]) * 2


BAD_CONFIGS = [
    ({"datasets": {"no-such-set": {"train": {"steps": 10}}}}, "unknown dataset 'no-such-set'"),
    ({"objectives": ["gan", "no-such-objective"]}, "unknown objective 'no-such-objective'"),
    ({"seeds": [0, "one"]}, "seeds"),
    ({"datasets": {"8gaussians": {"train": {"model": "no-such-model", "steps": 10}}}}, "unknown model 'no-such-model'"),
    ({"datasets": {"8gaussians": {"train": {"steps": 10}, "checkpoint_steps": [5, 50]}}},
     "datasets.8gaussians.checkpoint_steps: 50 is outside the run"),
    ({"objective_settings": {"wgan": {"lr": -0.1}}}, "lr"),
    ({"datasets": {"8gaussians": {"trian": {"steps": 10}}}}, "trian"),
    ({"sed": [0]}, "sed"),
]


@pytest.fixture(scope="module")
def bad_config_dir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("badconfig"))


def test_snakemake_lint_is_clean(bad_config_dir):
    """`snakemake --lint`, as the Snakemake workflow catalog runs it: a conda environment on every rule, no
    hard-coded path prefixes in params, log files everywhere."""
    proc = snakemake(bad_config_dir, "--lint", check=False)
    assert proc.returncode == 0 and "in a good condition" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_configfile_overlays_merge_and_config_overrides_are_typed(bad_config_dir):
    """As Snakemake documents: --configfile and --config merge into the paper config; a complete config of its
    own given without --replace-workflow-config fails, saying so."""
    from gan.grid import BenchmarkGrid

    paper = yaml.safe_load((bad_config_dir / "config/config.yaml").read_text())
    per_seed = len(BenchmarkGrid(paper).runs()) // len(paper["seeds"])  # an entry may run on some datasets only
    overlay = write_config(bad_config_dir, "overlay.yaml", {"seeds": [3]})
    plan = job_counts(snakemake(bad_config_dir, "-n", "--configfile", str(overlay)).stdout)
    assert plan["train"] == per_seed
    plan = job_counts(snakemake(bad_config_dir, "-n", "--config", "seeds=[0, 1]", "scoring={eval_seed: 7}").stdout)
    assert plan["train"] == 2 * per_seed
    proc = snakemake(bad_config_dir, "-n", "--configfile", "config/smoke.yaml", check=False)
    assert proc.returncode != 0 and "needs --replace-workflow-config" in proc.stdout + proc.stderr


def _bad_config(change: dict) -> dict:
    config = smoke_config()
    if "datasets" in change:
        config["datasets"] = change["datasets"]
    config.update({k: v for k, v in change.items() if k != "datasets"})
    return config


@pytest.mark.parametrize("change, message", BAD_CONFIGS, ids=[m for _, m in BAD_CONFIGS])
def test_bad_config_is_refused_naming_the_key(change, message):
    """The checks the DAG runs before anything else (workflow/rules/common.smk: the schema, then the grid), run
    in-process; two of them also through Snakemake below, to prove the wiring."""
    from snakemake.exceptions import WorkflowError

    from gan.grid import BenchmarkGrid
    from gan.schema import validate

    config = _bad_config(change)
    with pytest.raises((WorkflowError, ValueError)) as err:
        validate(config)
        BenchmarkGrid(config)
    assert message in str(err.value)


@pytest.mark.parametrize("change, message", [BAD_CONFIGS[0], BAD_CONFIGS[-2]], ids=["grid", "schema"])
def test_bad_config_fails_at_dag_build_naming_the_key(bad_config_dir, change, message):
    path = write_config(bad_config_dir, "bad.yaml", _bad_config(change))
    proc = snakemake(bad_config_dir, "-n", "--cores", "1", *complete_config(path), check=False, timeout=300)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (bad_config_dir / "results").exists()  # nothing ran
