"""gan.report: aggregation, tables, statistics and figures on a synthetic results tree (offline, CPU, seconds)."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from gan.atomic import save_npz, write_json, write_text
from gan.report import aggregate_results, make_tables
from gan.report import stats as st
from gan.metrics import metric_outputs
from gan.report.aggregate import metric_spec, primary_metric
from gan.report.tables import fmt_num

DATASETS = ("8gaussians", "digits")
OBJECTIVES = ("gan", "wgan", "wgan-gp")
SEEDS = (0, 1, 2)
STEPS = (100, 200, 300)
LOG_EVERY = 10
DIVERGED = ("digits", "wgan", 1)  # diverges at step 150: score 100 ok, 200 a "missing" file, 300 no file at all
DIVERGED_AT = 150
OBJ_OFFSET = {"gan": 0.0, "gan-minimax": 30.0, "wgan": 10.0, "wgan-gp": -10.0}


def _metrics(dataset: str, objective: str, seed: int, step: int) -> dict:
    k = step / 100
    if dataset == "digits":
        fid = 100.0 / k + OBJ_OFFSET[objective] + 2.0 * seed + 20.0
        return {"fid": fid, "kid": fid / 1000, "fd_classifier": fid / 10,
                "classes_covered": min(10.0, 6 + k + seed % 2)}
    w1 = 1.0 / k + OBJ_OFFSET[objective] / 100 + 0.02 * seed + 0.1
    return {"w1": w1, "modes_covered": min(8.0, 5 + k), "high_quality": min(1.0, 0.6 + 0.1 * k)}


def _protocol(dataset: str) -> dict:
    if dataset == "digits":
        return {"n_gen": 500, "n_real": 1000, "split": "test", "mode": "clean", "extractor": "classifier",
                "eval_seed": 0, "reference": "results/reference/digits/ref.npz", "weights_sha256": "ab12",
                "metric_options": {"class_min_share": 0.1}}
    return {"n_gen": 2000, "n_real": 2000, "split": "train", "mode": None, "extractor": None, "eval_seed": 0,
            "reference": "results/reference/8gaussians/ref.npz", "reference_eval_seed": 0}


def make_run(root: Path, dataset: str, objective: str, seed: int) -> Path:
    d = root / dataset / objective / f"seed{seed}"
    diverged = (dataset, objective, seed) == DIVERGED
    done = DIVERGED_AT if diverged else STEPS[-1]
    rate = 0.01 * (1 + 0.1 * seed)  # seconds per generator iteration
    rows = ["step,time_s,loss_d,loss_g,wasserstein,gp,grad_norm_d,grad_norm_g,d_real,d_fake"]
    for step in range(LOG_EVERY, done + 1, LOG_EVERY):
        wass = f"{2.0 / (1 + step / 50) + 0.01 * seed:.5f}" if objective.startswith("wgan") else ""
        gp = f"{0.1 / (1 + step):.5f}" if objective == "wgan-gp" else ""
        loss_d = 1.38 - 0.1 * math.sin(step / 30) + 0.01 * seed
        rows.append(f"{step},{step * rate:.4f},{loss_d:.5f},{0.7:.3f},{wass},{gp},1.0,0.5,0.6,0.4")
    write_text(d / "metrics.csv", "\n".join(rows) + "\n")
    checkpoints = {}
    for step in STEPS:
        if step > done:
            continue
        ck = f"checkpoints/step{step:07d}.pt"
        write_text(d / ck, "stand-in checkpoint (the tests load it with a fake loader)")
        checkpoints[str(step)] = ck
    for step in STEPS:
        score = {"dataset": dataset, "objective": objective, "seed": seed, "step": step, "status": "ok",
                 "reason": None, "kind": "images" if dataset == "digits" else "points", "metrics": _metrics(dataset, objective, seed, step), "protocol": _protocol(dataset),
                 "device": "cpu", "time_s": 0.5}
        rng = np.random.default_rng(seed * 1000 + step)
        if step > done:
            if step == STEPS[-1]:
                continue  # no file at all: aggregation must still yield a marked row
            score.update(status="missing", reason=f"diverged at step {DIVERGED_AT}", metrics={})
            sample = {"kind": "images", "samples": np.zeros((0, 1, 8, 8), np.uint8), "status": "missing",
                      "reason": f"diverged at step {DIVERGED_AT}"}
        elif dataset == "digits":
            img = (rng.random((16, 1, 8, 8)) * 255 * min(1, step / 300)).astype(np.uint8)
            sample = {"kind": "images", "samples": img, "status": "ok", "reason": ""}
        else:
            ang = rng.integers(0, 8, 256) * np.pi / 4
            pts = np.stack([np.cos(ang), np.sin(ang)], 1) * 2 / 1.414 + rng.normal(0, 0.3 / (step / 100), (256, 2))
            sample = {"kind": "points", "samples": pts.astype(np.float32), "status": "ok", "reason": ""}
        write_json(d / "scores" / f"step{step:07d}.json", score)
        save_npz(d / "samples" / f"step{step:07d}.npz", step=step, seed=seed, **sample)
    write_json(d / "summary.json", {
        "status": "diverged" if diverged else "finished", "steps": STEPS[-1], "steps_done": done,
        "diverged_step": DIVERGED_AT if diverged else None, "wall_clock_s": done * rate + 0.5, "seed": seed,
        "dataset": dataset, "objective": objective, "model": "mlp",
        "config": {"hyperparameters": {"lr": 1e-4}, "checkpoint_steps": list(STEPS)},
        "versions": {"torch": "x"}, "device": "cpu:x86_64", "checkpoints": checkpoints})
    return d


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    run_dirs = [make_run(root / "runs", ds, obj, s) for ds in DATASETS for obj in OBJECTIVES for s in SEEDS]
    paths = aggregate_results(run_dirs, root / "tables")
    return SimpleNamespace(root=root, run_dirs=run_dirs, paths=paths, tables=root / "tables",
                           scores=pd.read_csv(paths["scores"]), training=pd.read_csv(paths["training"]),
                           runs=pd.read_csv(paths["runs"]))


# ---------------------------------------------------------------------------------------------------------- aggregate

def test_aggregate_row_counts(tree):
    n_runs = len(DATASETS) * len(OBJECTIVES) * len(SEEDS)
    assert len(tree.scores) == n_runs * len(STEPS)
    assert not tree.scores.duplicated(["dataset", "objective", "seed", "step"]).any()
    assert len(tree.runs) == n_runs
    per_run = STEPS[-1] // LOG_EVERY
    assert len(tree.training) == (n_runs - 1) * per_run + DIVERGED_AT // LOG_EVERY
    assert {"dataset", "objective", "seed", "run_status", "step", "time_s", "wasserstein", "gp"} <= set(
        tree.training.columns)


def test_aggregate_missing_scores_stay_nan(tree):
    s = tree.scores
    ds, obj, seed = DIVERGED
    run = s[(s.dataset == ds) & (s.objective == obj) & (s.seed == seed)].set_index("step")
    assert run.loc[100, "status"] == "ok" and np.isfinite(run.loc[100, "fid"])
    for step in (200, 300):
        assert run.loc[step, "status"] == "missing"
        assert "diverged" in run.loc[step, "reason"]
        for m in ("fid", "kid", "fd_classifier", "classes_covered"):
            assert np.isnan(run.loc[step, m])
    assert (run["run_status"] == "diverged").all() and (run["diverged_step"] == DIVERGED_AT).all()
    # metrics a dataset does not have are NaN, never 0
    assert s.loc[s.dataset == "digits", "w1"].isna().all()
    assert s.loc[s.dataset == "8gaussians", "fid"].isna().all()
    assert not (s[[m for m in metric_outputs() if m in s]] == 0).any().any()
    ok = s[s.status == "ok"]
    assert len(ok) == len(s) - 2
    assert set(ok.loc[ok.dataset == "digits", "n_gen"]) == {500}
    assert set(ok.loc[ok.dataset == "digits", "extractor"]) == {"classifier"}
    # other protocol keys and the scoring job's fields are kept, but never taken for metrics
    from gan.report.aggregate import metric_columns

    assert set(ok.loc[ok.dataset == "digits", "protocol_weights_sha256"]) == {"ab12"}
    assert (ok["eval_time_s"] == 0.5).all()
    assert set(metric_columns(s)) == {"fid", "kid", "fd_classifier", "classes_covered", "w1",
                                      "modes_covered", "high_quality"}


def test_aggregate_writes_each_table_and_its_page_for_the_report(tree):
    from gan.layout import AGGREGATES, Layout

    layout = Layout(str(tree.root))
    for name in AGGREGATES:
        assert str(tree.paths[name]) == layout.aggregate(name)  # where the DAG's rule declares them
        assert str(tree.paths[f"{name}_html"]) == layout.aggregate(name, "html")
        page = tree.paths[f"{name}_html"].read_text()
        assert page.startswith("<!DOCTYPE html>") and f"{name}.csv holds them at full precision" in page
    page = tree.paths["scores_html"].read_text()
    assert page.count("<tr") == 1 + len(tree.scores)  # every row, numbers rounded for reading
    fid = tree.scores.fid.dropna().iloc[0]
    assert f"<td>{fmt_num(fid)}</td>" in page and f"<td>{fid!r}</td>" not in page


def test_aggregate_wall_clock_and_runs(tree):
    s = tree.scores.set_index(["dataset", "objective", "seed", "step"])
    assert s.loc[("digits", "gan", 0, 200), "wall_clock_s"] == pytest.approx(2.0)
    assert s.loc[("digits", "gan", 2, 300), "wall_clock_s"] == pytest.approx(300 * 0.012)
    assert np.isnan(s.loc[("digits", "wgan", 1, 300), "wall_clock_s"])  # beyond the diverged run's log
    r = tree.runs.set_index(["dataset", "objective", "seed"])
    assert r.loc[("digits", "wgan", 1), "status"] == "diverged"
    assert r.loc[("digits", "wgan", 1), "steps_done"] == DIVERGED_AT
    assert r.loc[("digits", "gan", 0), "s_per_1k_gen_iters"] == pytest.approx((3.0 + 0.5) / 300 * 1000)
    assert (tree.runs["status"] == "finished").sum() == len(tree.runs) - 1


def test_aggregate_glob_and_incomplete_run(tree, tmp_path):
    from gan.report.aggregate import collect_scores, find_run_dirs

    assert len(find_run_dirs(tree.root / "runs")) == len(tree.run_dirs)
    paths = aggregate_results(tree.root / "runs", tmp_path / "t")  # a root is globbed
    assert len(pd.read_csv(paths["scores"])) == len(tree.scores)
    # a run without a summary has no identity of its own (nothing is read from its path): left out, with a warning
    d = make_run(tmp_path / "runs", "digits", "gan", 7)
    (d / "summary.json").unlink()
    with pytest.warns(UserWarning, match="no readable summary.json"):
        df = collect_scores([d])
    assert df.empty


def test_registry_and_primary(tree):
    assert metric_spec("fid").higher_is_better is False and metric_spec("modes_covered").higher_is_better
    assert metric_spec("unknown_metric").higher_is_better is None
    assert primary_metric(tree.scores, "digits") == "fid"
    assert primary_metric(tree.scores, "8gaussians") == "w1"


# ---------------------------------------------------------------------------------------------------------- stats

def test_mann_whitney_separated_and_identical():
    a, b = np.arange(10.0), np.arange(10.0) + 100
    assert st.mann_whitney(a, b)["p"] < 1e-3
    assert st.mann_whitney(a, a.copy())["p"] > 0.9
    assert st.mann_whitney([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])["p"] > 0.5
    assert st.cliffs_delta(a, b) == -1.0 and st.cliffs_delta(b, a) == 1.0
    assert st.cohens_d(a, b) < -10
    assert st.welch_t(a, b)["p"] < 1e-6


def test_stats_small_n_and_nan():
    res = st.compare_two([1.0, np.nan], [2.0, 3.0, 4.0])
    assert res["n_a"] == 1 and np.isnan(res["p"]) and np.isnan(res["effect"]) and res["note"] == "n < 3: no test"
    assert np.isnan(st.welch_t([1.0, 2.0], [1.0, 2.0, 3.0])["p"])
    res = st.welch_t([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert res["p"] == 1.0 and "zero variance" in res["note"]
    assert np.isnan(st.spearman([1, 2], [2, 1])["rho"])
    assert st.spearman([1, 2, 3, 4], [2, 4, 6, 9])["rho"] == pytest.approx(1.0)
    np.testing.assert_allclose(st.holm([0.01, 0.04, np.nan, 0.03]), [0.03, 0.06, np.nan, 0.06])


# ---------------------------------------------------------------------------------------------------------- tables

@pytest.fixture(scope="module")
def tables(tree):
    out = make_tables(tree.tables, tree.root / "tables")
    return SimpleNamespace(paths=out, final=pd.read_csv(tree.tables / "final_scores.csv"),
                           pairwise=pd.read_csv(tree.tables / "pairwise.csv"),
                           toy=pd.read_csv(tree.tables / "toy.csv"),
                           long=pd.read_csv(tree.tables / "final_scores_all_metrics.csv"))


def test_final_scores_table(tables):
    f = tables.final.set_index(["dataset", "objective"])
    assert len(f) == len(DATASETS) * len(OBJECTIVES)
    assert np.isfinite(f["mean"]).all() and np.isfinite(f["std"]).all() and np.isfinite(f["median"]).all()
    assert f.loc[("digits", "wgan"), "n"] == 2 and f.loc[("digits", "wgan"), "n_diverged"] == 1
    assert f.loc[("digits", "gan"), "n"] == 3 and f.loc[("digits", "gan"), "n_diverged"] == 0
    assert f.loc[("digits", "wgan"), "n_finished"] == 2 and f.loc[("digits", "wgan"), "success_rate"] == 2 / 3
    assert f.loc[("digits", "wgan"), "success_low"] == pytest.approx(0.0943, abs=1e-4)  # Clopper-Pearson 2/3
    # gan digits: fid at 300 = 100/3 + 20 + 2*seed -> mean over seeds 0,1,2
    assert f.loc[("digits", "gan"), "mean"] == pytest.approx(100 / 3 + 20 + 2)
    assert f.loc[("digits", "gan"), "std"] == pytest.approx(2.0)
    assert f.loc[("digits", "gan"), "best_mean_curve_step"] == 300  # lower is better: last step
    assert f.loc[("8gaussians", "wgan-gp"), "metric"] == "w1"
    assert np.isfinite(f.loc[("digits", "gan"), "kid_mean"])
    assert np.isfinite(f["s_per_1k_gen_iters_mean"]).all()
    for suffix in ("md", "tex", "html"):
        text = (tables.paths["final_scores"][0].parent / f"final_scores.{suffix}").read_text()
        for obj in OBJECTIVES:
            assert obj in text
        assert "N_gen=500" in text.replace("N\\_gen", "N_gen")
    tex = (tables.paths["final_scores"][0].parent / "final_scores.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "$\\pm$" in tex


def test_pairwise_table(tables):
    p = tables.pairwise
    fid = p[(p.dataset == "digits") & (p.metric == "fid")]
    assert len(fid) == 3  # C(3, 2)
    assert fid["p"].between(0, 1).all() and fid["p_holm"].between(0, 1).all()
    row = fid[(fid.a == "gan") & (fid.b == "wgan")].iloc[0]
    # same seeds on both sides: paired; wgan's diverged seed 1 is its worst outcome, not a dropped run
    assert row["test"].startswith("paired") and row["n_pairs"] == 3 and row["diverged_b"] == 1
    assert row["n_a"] == 3 and row["n_b"] == 3 and row["better"] == "gan"
    assert row["effect"] == 1.0 and row["cliffs_delta"] == 1.0  # oriented: > 0 when A is better
    assert row["p"] == pytest.approx(2 / 2**3) and row["p_min"] == pytest.approx(2 / 2**3)
    assert row["diff"] == pytest.approx(-10.0) and row["diff_n"] == 2  # over the seeds where both finished
    for ds, fam in p[p["family"] != "descriptive"].groupby("dataset"):  # the declared family: the primary metric
        assert fam["metric"].nunique() == 1
        np.testing.assert_allclose(fam["p_holm"], st.holm(fam["p"]))
    assert p.loc[p["family"] == "descriptive", "p_holm"].isna().all()
    assert set(p["metric"]) >= {"fid", "kid", "w1", "modes_covered"}
    assert "kid_std" not in set(p["metric"])
    md = (tables.paths["pairwise"][0].parent / "pairwise.md").read_text()
    assert "wgan-gp" in md and "gan vs wgan" in md and "paired" in md and "Correction family (declared)" in md


def test_toy_table(tables):
    t = tables.toy
    assert list(t["dataset"].unique()) == ["8gaussians"] and len(t) == len(OBJECTIVES)
    for m in ("modes_covered_mean", "high_quality_mean", "w1_mean"):
        assert np.isfinite(t[m]).all()
    assert t["modes_covered_mean"].iloc[0] == pytest.approx(8.0)
    assert "wgan" in (tables.paths["toy"][0].parent / "toy.tex").read_text()


def test_tables_single_seed_all_nan(tmp_path, tree):
    s = tree.scores[tree.scores.seed == 0].copy()
    s.loc[s.objective == "gan", ["fid", "kid", "w1"]] = np.nan
    from gan.report.tables import tables_from_frames

    out = tables_from_frames(s, None, tmp_path)
    f = pd.read_csv(out["final_scores"][0])
    assert len(f) == 6 and f["std"].isna().all()
    assert f.loc[(f.dataset == "digits") & (f.objective == "gan"), "n"].iloc[0] == 0
    pw = pd.read_csv(out["pairwise"][0])
    assert pw["p"].isna().all() and pw["note"].str.contains("n < 3: no test", regex=False).all()
    assert "n < 3: no test" in (tmp_path / "pairwise.md").read_text()


# ---------------------------------------------------------------------------------------------------------- figures
# The figures plot only the files they are given (what the figures rule declares), each with its identity as data.

TOY = ("8gaussians",)  # the toy datasets of this grid, as the rule's params say (data, not a name pattern)


def _toy_critic_and_generator(seed: int = 0):
    import torch

    torch.manual_seed(seed)
    critic = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    gen = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    return critic, gen


def _real_points(n):
    rng = np.random.default_rng(0)
    ang = rng.integers(0, 8, n) * np.pi / 4
    return np.stack([np.cos(ang), np.sin(ang)], 1) * 2 / 1.414 + rng.normal(0, 0.02, (n, 2))


def assert_png_ok(path: Path, min_std: float = 8.0) -> None:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        arr = np.asarray(im.convert("L"), dtype=float)
    assert arr.shape[0] > 100 and arr.shape[1] > 100, path
    assert arr.std() > min_std, f"{path} looks blank (std {arr.std():.1f})"


def figures_stage_of(root, datasets, toy, runs, steps, references=None):
    """What the figures rule declares for a grid (gan.report.registry.figures_stage), PNG only."""
    from gan.layout import Layout
    from gan.report import Benchmark, figures_stage

    benchmark = Benchmark(layout=Layout(str(root)), datasets=datasets, runs=runs, toy_datasets=toy,
                          checkpoint_steps={d: steps for d in datasets}, references=references or {})
    return figures_stage(benchmark, formats=("png",))


def draw(stage, root, datasets, toy=(), **kwargs):
    """make_figures as the figures rule calls it, with the stage's input values."""
    from gan.report import make_figures

    return make_figures(root=root, datasets=datasets, toy_datasets=toy, inputs=stage.values, formats=("png",),
                        **kwargs)


def _declared_inputs(tree):
    """What the figures rule would declare for the synthetic tree, with the critic grids written from a stand-in
    critic and the toy reference points."""
    from gan.critic_grid import critic_values, save_critic_grid

    runs = [(d, o, s) for d in DATASETS for o in OBJECTIVES for s in SEEDS]
    refs = {d: str(tree.root / "reference" / d / "points.npz") for d in TOY}
    stage = figures_stage_of(tree.root, DATASETS, TOY, runs, STEPS, refs)
    critic, _ = _toy_critic_and_generator()
    x, y, values = critic_values(critic, lim=3.0, resolution=41)
    for r in stage.values["critic_grids"]:
        save_critic_grid(r["path"], x, y, values, step=r["step"], seed=r["seed"], lim=3.0, resolution=41)
    for d in TOY:
        save_npz(refs[d], points=_real_points(500).astype(np.float32))
    from gan.datasets import dataset_spec, prepare_dataset

    for r in stage.values["real_data"]:  # the samples figures' real-data panels read the prepared data
        prepare_dataset(dataset_spec(r["dataset"]), tree.root / "downloads", r["path"])
    return stage


@pytest.fixture(scope="module")
def figures(tree, tables):
    stage = _declared_inputs(tree)
    out = draw(stage, tree.root, DATASETS, TOY)
    expected = [Path(o.path) for o in stage.outputs]
    return SimpleNamespace(out=out, dir=tree.root / "figures", expected=expected, stage=stage)


def test_figure_inputs_declare_samples_grids_and_references(figures):
    from gan.report.inputs import strip_steps

    inp, declared = figures.stage.values, figures.stage.inputs
    assert len(inp["samples"]) == len(DATASETS) * len(OBJECTIVES) * len(SEEDS) * len(STEPS)
    # the rule declares each run's samples index (the sample job's output), not the npz files it lists
    assert declared["samples"] == [str(figures.dir.parent / "runs" / d / o / f"seed{s}" / "samples" / "index.json")
                                   for d in DATASETS for o in OBJECTIVES for s in SEEDS]
    assert {m["dataset"] for m in inp["critic_grids"]} == set(TOY)  # toy runs only, final step only
    assert {m["step"] for m in inp["critic_grids"]} == {STEPS[-1]}
    assert len(inp["critic_grids"]) == len(OBJECTIVES) * len(SEEDS)
    assert [{"dataset": r["dataset"]} for r in inp["references"]] == [{"dataset": d} for d in TOY]
    assert declared["scores"] == str(figures.dir.parent / "tables" / "scores.csv")
    assert strip_steps(range(100, 1100, 100), 6) == [100, 300, 500, 600, 800, 1000]
    assert strip_steps([5, 1], 6) == [1, 5]


def test_make_figures_writes_expected_files(figures):
    written = {p for paths in figures.out.values() for p in paths}
    assert written == set(figures.expected)
    for p in figures.expected:
        assert p.exists() and p.stat().st_size > 0, p
        if p.suffix == ".png":
            assert_png_ok(p)


def test_no_toy_dataset_no_toy_critics(tree, tmp_path):
    from gan.report import make_figures

    stage = figures_stage_of(tmp_path, ["digits"], (), [], STEPS)
    assert "toy_critics" not in {p.stem for p in stage.plan}
    assert "critic_grids" not in stage.inputs and "references" not in stage.inputs  # no figure reads them
    out = make_figures(root=tmp_path, datasets=["digits"], formats=("png",),
                       inputs={name: str(tree.tables / f"{name}.csv") for name in ("scores", "training", "runs")})
    assert "toy_critics" not in out
    written = {str(p) for paths in out.values() for p in paths}
    assert written == {o.path for o in stage.outputs}
    # no sample files were given: the panels say so instead of looking for them in the run folders
    assert_png_ok(tmp_path / "figures" / "samples_digits.png", min_std=1.0)


def test_critic_correlation_csv(figures):
    corr = pd.read_csv(figures.dir / "critic_correlation.csv")
    # its page in the report (the CSV is an output the report does not list)
    page = (figures.dir / "critic_correlation.html").read_text()
    assert page.count("<tr") == 1 + len(corr) and "critic_correlation.csv holds them" in page
    listed = {Path(o.path).name: o for o in figures.stage.outputs}
    assert listed["critic_correlation.html"].in_report and listed["critic_correlation.html"].category == "Tables"
    assert not listed["critic_correlation.csv"].in_report
    assert set(corr["dataset"]) == set(DATASETS)
    wg = corr[(corr.dataset == "digits") & (corr.objective == "wgan-gp")].iloc[0]
    assert wg["quantity"] == "wasserstein" and wg["metric"] == "fid"
    assert wg["rho"] > 0.5  # both fall during training in the synthetic data
    assert corr.loc[corr.objective == "gan", "quantity"].eq("loss_d").all()


def test_figures_single_seed_single_dataset_all_nan(tree, tmp_path):
    from gan.report.figures import convergence, critic, final_distribution

    s = tree.scores[(tree.scores.seed == 0) & (tree.scores.dataset == "digits")].copy()
    convergence.plot_convergence(s, [tmp_path / "conv.png"])
    convergence.plot_convergence(s, [tmp_path / "conv_wall.png"], x="wall_clock_s")
    s_nan = s.copy()
    s_nan[["fid", "kid", "fd_classifier"]] = np.nan
    final_distribution.plot_final_distribution(s_nan, [tmp_path / "dist_nan.png"], primary="fid")
    convergence.plot_convergence(s_nan, [tmp_path / "conv_nan.png"], primary="fid")
    tr = tree.training[(tree.training.seed == 0) & (tree.training.dataset == "digits")]
    critic.plot_critic_estimate(tr, s, [tmp_path / "critic.png"], datasets=["digits"])
    for name in ("conv.png", "conv_wall.png", "critic.png"):
        assert_png_ok(tmp_path / name)
    for name in ("dist_nan.png", "conv_nan.png"):  # nothing to plot: a readable "no scores" panel
        assert (tmp_path / name).exists()


def test_critic_values_and_low_level_panel(tmp_path):
    import torch

    from gan.critic_grid import critic_values, load_critic_grid, save_critic_grid
    from gan.report.figures.toy_critics import plot_toy_critic

    critic, gen = _toy_critic_and_generator()
    x, y, values = critic_values(critic, lim=2.0, resolution=31)
    assert critic.training  # the helper restores the module's mode
    assert x.shape == y.shape == (31,) and values.shape == (31, 31) and x[0] == -2.0 and x[-1] == 2.0
    with torch.no_grad():  # row i, column j is the critic at (x[j], y[i])
        assert values[3, 7] == pytest.approx(float(critic(torch.tensor([[x[7], y[3]]]))), abs=1e-5)
    save_critic_grid(tmp_path / "g.npz", x, y, values, step=7, seed=1, lim=2.0, resolution=31)
    grid = load_critic_grid(tmp_path / "g.npz")
    assert grid["status"] == "ok" and grid["step"] == 7 and np.array_equal(grid["values"], values)
    generated = gen(torch.randn(500, 2)).detach()
    plot_toy_critic(grid, generated, _real_points(500), out_paths=[tmp_path / "toy.png", tmp_path / "toy.pdf"],
                    title="stand-in critic")
    assert_png_ok(tmp_path / "toy.png")


def test_toy_run_figures_read_only_declared_files(tmp_path):
    """A real tiny toy run: its samples and critic grid are computed by the rules' functions; then its checkpoints
    are deleted and the figures still render from the declared files alone (no hidden input)."""
    import shutil

    from gan.config import TrainConfig
    from gan.critic_grid import critic_grid_checkpoint, load_critic_grid
    from gan.layout import Layout
    from gan.sampling import sample_checkpoint
    from gan.training import train

    layout = Layout(str(tmp_path / "results"))
    steps = [10, 20]
    runs = [("8gaussians", o, 0) for o in ("gan", "wgan-gp")]
    for d, o, s in runs:
        cfg = TrainConfig(dataset=d, objective=o, model="toy", width=32, batch_size=64, log_every=5, seed=s,
                          steps=steps[-1], checkpoint_steps=steps)
        train(cfg, layout.run_dir(d, o, s))
    ref = tmp_path / "results" / "reference" / "8gaussians" / "points.npz"
    save_npz(ref, points=_real_points(300).astype(np.float32))
    from gan.datasets import dataset_spec, prepare_dataset

    prepare_dataset(dataset_spec("8gaussians"), tmp_path / "downloads", layout.prepared("8gaussians"))
    stage = figures_stage_of(layout.root, ["8gaussians"], ["8gaussians"], runs, steps, {"8gaussians": str(ref)})
    for m in stage.values["samples"]:
        sample_checkpoint(layout.run_dir(m["dataset"], m["objective"], m["seed"]), m["step"], 200, 0, m["path"])
    for m in stage.values["critic_grids"]:
        assert critic_grid_checkpoint(layout.run_dir(m["dataset"], m["objective"], m["seed"]), m["step"],
                                      m["path"], resolution=41)["status"] == "ok"
        grid = load_critic_grid(m["path"])
        assert grid["step"] == steps[-1] and grid["values"].shape == (41, 41) and np.isfinite(grid["values"]).all()
    tables = aggregate_results([layout.run_dir(*r) for r in runs], tmp_path / "results" / "tables")
    for d, o, s in runs:
        shutil.rmtree(layout.run(d, o, s).checkpoints)  # nothing may read a model from here on
    assert {name: str(tables[name]) for name in ("scores", "training", "runs")} == \
        {name: stage.values[name] for name in ("scores", "training", "runs")}  # where aggregate wrote them
    out = draw(stage, layout.root, ["8gaussians"], ["8gaussians"])
    assert {str(p) for paths in out.values() for p in paths} == {o.path for o in stage.outputs}
    assert_png_ok(Path(layout.figure("toy_critics", "png")))
    assert_png_ok(Path(layout.figure("samples_strip_8gaussians", "png")))


def test_critic_grid_of_a_diverged_run_is_marked_missing(tmp_path):
    from gan.critic_grid import critic_grid_checkpoint, load_critic_grid

    write_json(tmp_path / "run" / "summary.json", {"status": "diverged", "steps_done": 12, "diverged_step": 12,
                                                    "seed": 2})
    assert critic_grid_checkpoint(tmp_path / "run", 20, tmp_path / "g.npz")["status"] == "missing"
    grid = load_critic_grid(tmp_path / "g.npz")
    assert grid["status"] == "missing" and grid["reason"] == "diverged at step 12" and grid["values"].size == 0
    with pytest.raises(FileNotFoundError):
        critic_grid_checkpoint(tmp_path / "other", 20, tmp_path / "h.npz")


def test_image_grid_gray_and_rgb():
    from gan.report.figures.samples import image_grid

    g = image_grid(np.full((5, 1, 4, 4), 7, np.uint8), nrow=3, pad=1)
    assert g.shape == (2 * 5 + 1, 3 * 5 + 1) and g.dtype == np.uint8
    c = image_grid(np.zeros((4, 3, 4, 4), np.uint8), pad=0)
    assert c.shape == (8, 8, 3)


def test_tiny_critic_estimates_carry_their_power_of_ten_in_the_label():
    """WGAN's clipped critic estimates ~1e-5: the multiplier goes into the x label (matplotlib's offset text
    overlapped it); ordinary values keep plain ticks."""
    import matplotlib.pyplot as plt

    from gan.report.figures.critic import _x_label_with_scale

    fig, (tiny, plain) = plt.subplots(1, 2)
    _x_label_with_scale(tiny, [2e-5, 4.5e-5, float("nan")], "estimate")
    _x_label_with_scale(plain, [0.15, 0.3], "estimate")
    assert tiny.get_xlabel() == "estimate\n(ticks $\\times 10^{-5}$)"
    assert tiny.xaxis.get_major_formatter()(3e-5) == "3"
    assert plain.get_xlabel() == "estimate"
    plt.close(fig)
