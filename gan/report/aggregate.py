"""Collect `results/{experiment}/runs/**` into three tidy tables: scores.csv, training.csv and runs.csv.

Input layout (docs/CONTRACTS.md): `runs/{dataset}/{objective}/seed{seed}/` with `summary.json`, `metrics.csv`,
`scores/step{step:07d}.json` and `samples/step{step:07d}.npz`.

Output tables (all CSV, written atomically):

- ``scores.csv``: one row per (dataset, objective, seed, step). Columns: the identifiers, ``status`` / ``reason``
  of the score file, every metric as its own column (missing = empty, never 0), the protocol columns
  (``n_gen``, ``n_real``, ``split``, ``mode``, ``extractor``, ``eval_seed``), ``wall_clock_s`` (training seconds at
  that step, interpolated from metrics.csv ``time_s``), and the run's ``run_status`` / ``diverged_step``.
  A run that ended (finished or diverged) also gets a ``missing`` row for every checkpoint step of its
  dataset grid that has no score file, so a diverged run shows up as explicit NaNs rather than vanishing.
- ``training.csv``: dataset, objective, seed, run_status + the metrics.csv columns.
- ``runs.csv``: one row per run (status, steps, steps_done, diverged_step, wall_clock_s, device,
  ``s_per_1k_gen_iters`` = training seconds per 1000 generator iterations, ...).

How tables and figures show the metrics (gan.metrics' registrations: direction and display name of every
output) and order the objectives (gan.objectives' registrations: Display.order) is read here too, so that they
agree.
"""
from __future__ import annotations

import math

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from gan.atomic import read_json_object, read_score_file, read_summary, rerun_remedy, write_text
from gan.layout import RunFiles

# --------------------------------------------------------------------------------------------------------------
# The registries as the report reads them: objectives and metrics
# --------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str  # display name (tables, axis labels)
    higher_is_better: bool | None  # None: not a score (e.g. an uncertainty), never ranked
    unit: str = ""  # shown in axis labels, e.g. "fraction"
    floor: bool = False  # has a real-vs-real floor
    rank: int = 100  # headline order

    @property
    def direction(self) -> str:
        if self.higher_is_better is None:
            return ""
        return "higher" if self.higher_is_better else "lower"

    @property
    def arrow(self) -> str:
        if self.higher_is_better is None:
            return ""
        return "↑" if self.higher_is_better else "↓"

    def axis_label(self) -> str:
        extra = f" ({self.unit})" if self.unit else ""
        better = f", {self.direction} is better" if self.direction else ""
        return f"{self.label}{extra}{better}"

    def better(self, a: float, b: float) -> bool:
        """True when value `a` is strictly better than `b`."""
        if self.higher_is_better is None:
            raise ValueError(f"metric {self.name!r} has no direction")
        return a > b if self.higher_is_better else a < b


def _registry() -> dict[str, "MetricSpec"]:
    """Every output of every registered metric (gan.metrics), as tables and figures show it: one registry."""
    from gan.metrics import metric_outputs

    outputs = sorted(metric_outputs().items(), key=lambda kv: kv[1].rank)
    return {k: MetricSpec(k, o.label, o.higher_is_better, o.unit, o.floor, o.rank) for k, o in outputs}


ID_COLUMNS: tuple[str, ...] = ("dataset", "objective", "seed")
PROTOCOL_COLUMNS: tuple[str, ...] = ("n_gen", "n_real", "split", "mode", "extractor", "eval_seed")
#: Columns with these prefixes are never metrics: other protocol keys (protocol_reference, ...) and the scoring
#: job's own fields (eval_device, eval_time_s).
NON_METRIC_PREFIXES: tuple[str, ...] = ("protocol_", "eval_")
TRAINING_COLUMNS: tuple[str, ...] = ("step", "time_s", "loss_d", "loss_g", "wasserstein", "gp", "grad_norm_d",
                                     "grad_norm_g", "d_real", "d_fake")


def metric_spec(name: str) -> MetricSpec:
    """The registry entry of `name`; a column no registered metric declares gets its own name as label and no
    direction, and a warning (it cannot be ranked)."""
    spec = _registry().get(name)
    if spec is None:
        warnings.warn(f"{name!r} is no registered metric's output: shown, never ranked", stacklevel=2)
        return MetricSpec(name, name.replace("_", " "), None)
    return spec


def objective_order(objectives: Iterable[str]) -> list[str]:
    """The objectives present, in the order their registrations declare (gan.objectives.Display.order); the
    others last, alphabetically."""
    from gan.objectives import objective_display

    present = {str(o) for o in objectives if isinstance(o, str) or not pd.isna(o)}
    order = {o: objective_display(o).order for o in present}
    return sorted(present, key=lambda o: (order[o] is None, order[o] or 0, o))


def metric_columns(df: pd.DataFrame) -> list[str]:
    """Metric columns of a scores table, in registry order then alphabetical."""
    non_metric = set(ID_COLUMNS) | set(PROTOCOL_COLUMNS) | {
        "step", "status", "reason", "wall_clock_s", "run_status", "diverged_step", "diverged", "run_dir", "kind"}
    cols = [c for c in df.columns if c not in non_metric and not str(c).startswith(NON_METRIC_PREFIXES)]
    registry = _registry()
    known = [m for m in registry if m in cols]
    return known + sorted(c for c in cols if c not in registry)


def is_toy_dataset(name: str, scores: pd.DataFrame) -> bool:
    """A 2-D points dataset: what its score files say (the `kind` column comes from the reference)."""
    sub = scores[scores["dataset"] == name]
    return "kind" in sub and (sub["kind"] == "points").any()


def primary_metric(scores: pd.DataFrame, dataset: str, override: dict[str, str] | str | None = None) -> str | None:
    """Headline metric of `dataset`: `override` (a name, or a dict per dataset) else the best-ranked registered
    metric (gan.metrics Output.rank) with values."""
    if isinstance(override, str):
        return override
    if override and dataset in override:
        return override[dataset]
    sub = scores[scores["dataset"] == dataset]
    for name in metric_columns(sub):  # registry order: rank first
        if metric_spec(name).higher_is_better is not None and sub[name].notna().any():
            return name
    return None


# --------------------------------------------------------------------------------------------------------------
# Reading one run
# --------------------------------------------------------------------------------------------------------------

def find_run_dirs(root: str | Path = "results/runs") -> list[Path]:
    """Every run folder under `root` that holds a summary (for use outside the DAG, which passes its runs)."""
    return sorted(RunFiles(p.parent).dir for p in Path(root).rglob(RunFiles(".").summary.name))


def _to_float(value) -> float:
    if value is None or isinstance(value, (str, bytes)):
        try:
            return float(value) if value not in (None, "") else math.nan
        except (TypeError, ValueError):
            return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass
class RunInfo:
    """What one run folder says about itself (summary.json, or the path when there is none yet)."""
    run_dir: Path
    dataset: str
    objective: str
    seed: int
    summary: dict | None

    @property
    def status(self) -> str:
        return str(self.summary.get("status", "unknown")) if self.summary else "incomplete"

    @property
    def ended(self) -> bool:
        return self.status in ("finished", "diverged")

    @property
    def diverged_step(self) -> float:
        if not self.summary:
            return math.nan
        return _to_float(self.summary.get("diverged_step"))

    @property
    def steps(self) -> float:
        return _to_float(self.summary.get("steps")) if self.summary else math.nan


def read_run_info(run_dir: str | Path) -> RunInfo | None:
    """The run's identity and status from its summary.json (None, with a warning, when it has none)."""
    files = RunFiles(run_dir)
    if not files.summary.exists():
        warnings.warn(f"{files.dir}: no readable summary.json (not written yet); the run is left out", stacklevel=2)
        return None
    summary = read_summary(files.dir)
    return RunInfo(files.dir, str(summary["dataset"]), str(summary["objective"]), int(summary["seed"]), summary)


def _run_infos(run_dirs: Iterable[str | Path]) -> list[RunInfo]:
    return [info for info in map(read_run_info, run_dirs) if info is not None]


def read_training(run_dir: str | Path) -> pd.DataFrame:
    """metrics.csv of one run (empty frame with the contract columns when absent or empty)."""
    path = RunFiles(run_dir).metrics
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(TRAINING_COLUMNS))
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=list(TRAINING_COLUMNS))
    for col in df.columns:
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def wall_clock_at(training: pd.DataFrame, steps: Sequence[int], info: RunInfo | None = None) -> np.ndarray:
    """Training seconds at each of `steps`, interpolated linearly in metrics.csv (step, time_s).

    (0, 0 s) is assumed when the log does not start at step 0. Beyond the last logged step the summary's
    wall_clock_s is used when the step is the run's last step (steps_done); otherwise NaN (no extrapolation).
    """
    steps_arr = np.asarray(steps, dtype=float)
    out = np.full(steps_arr.shape, np.nan)
    if {"step", "time_s"} <= set(training.columns):
        t = training[["step", "time_s"]].dropna().sort_values("step").drop_duplicates("step", keep="last")
        xs, ys = t["step"].to_numpy(float), t["time_s"].to_numpy(float)
        if len(xs) and xs[0] > 0:
            xs, ys = np.concatenate([[0.0], xs]), np.concatenate([[0.0], ys])
        if len(xs):
            inside = (steps_arr >= xs[0]) & (steps_arr <= xs[-1])
            out[inside] = np.interp(steps_arr[inside], xs, ys)
    if info is not None and info.summary:
        done = _to_float(info.summary.get("steps_done"))
        wall = _to_float(info.summary.get("wall_clock_s"))
        fill = np.isnan(out) & (steps_arr == done)
        out[fill] = wall
    return out


def _flatten_metrics(metrics: dict) -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if not isinstance(v, (dict, list)):
                    flat[f"{key}_{sub}"] = _to_float(v)
        elif isinstance(value, (list, tuple)):
            continue  # per-class vectors etc. do not belong in a tidy table
        else:
            flat[str(key)] = _to_float(value)
    reserved = set(ID_COLUMNS) | set(PROTOCOL_COLUMNS) | {"step", "status", "reason", "wall_clock_s"}
    return {(f"metric_{k}" if k in reserved else k): v for k, v in flat.items()}


def _score_rows(info: RunInfo) -> list[dict]:
    """The score files of the run's configured checkpoints (the files the DAG declares), identity from data."""
    rows = []
    files = RunFiles(info.run_dir)
    steps = (info.summary.get("config") or {}).get("checkpoint_steps") or []
    for step in steps:
        if not files.scores(int(step)).exists():
            continue
        obj = read_score_file(files.dir, int(step))
        protocol = obj.get("protocol") or {}
        row = {"dataset": info.dataset, "objective": info.objective, "seed": info.seed,
               "step": int(obj.get("step", step)), "status": obj.get("status") or "ok",
               "reason": obj.get("reason") or "", "kind": obj.get("kind") or ""}
        row.update(_flatten_metrics(obj.get("metrics") or {}))
        for key, value in protocol.items():
            if key in PROTOCOL_COLUMNS:
                col = str(key)
            else:
                col = f"protocol_{key}"
            if not isinstance(value, (dict, list)):
                row[col] = value
        for key in ("device", "time_s"):
            if key in obj and not isinstance(obj[key], (dict, list)):
                row[f"eval_{key}"] = obj[key]
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------------------
# Building the tables
# --------------------------------------------------------------------------------------------------------------

def _sort(df: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    order = {o: i for i, o in enumerate(objective_order(df["objective"].unique()))}
    keys = ["dataset", "_o", "seed", *extra]
    out = df.assign(_o=df["objective"].map(order)).sort_values(keys, kind="stable")
    return out.drop(columns="_o").reset_index(drop=True)


def collect_scores(run_dirs: Iterable[str | Path], complete_grid: bool = True) -> pd.DataFrame:
    """scores.csv as a DataFrame (see the module docstring)."""
    infos = _run_infos(run_dirs)
    rows: list[dict] = []
    per_run: dict[int, list[dict]] = {}
    for i, info in enumerate(infos):
        per_run[i] = _score_rows(info)
        rows.extend(per_run[i])
    if complete_grid:
        grid: dict[str, set[int]] = {}
        for i, info in enumerate(infos):
            steps = {r["step"] for r in per_run[i]}
            if info.summary:
                steps |= {int(s) for s in (info.summary.get("checkpoints") or {}) if str(s).lstrip("-").isdigit()}
            grid.setdefault(info.dataset, set()).update(steps)
        for i, info in enumerate(infos):
            if not info.ended:
                continue
            have = {r["step"] for r in per_run[i]}
            limit = info.steps if not math.isnan(info.steps) else math.inf
            for step in sorted(grid.get(info.dataset, ())):
                if step in have or step > limit:
                    continue
                div = info.diverged_step
                if info.status == "diverged" and not math.isnan(div) and step >= div:
                    reason = f"diverged at step {int(div)}"
                elif info.status == "diverged":
                    reason = "run diverged; no score file"
                else:
                    reason = "no score file"
                row = {"dataset": info.dataset, "objective": info.objective, "seed": info.seed, "step": step,
                       "status": "missing", "reason": reason}
                per_run[i].append(row)
                rows.append(row)
    base = ["dataset", "objective", "seed", "step", "status", "reason"]
    if not rows:
        return pd.DataFrame(columns=base + list(PROTOCOL_COLUMNS) + ["wall_clock_s", "run_status", "diverged_step"])
    df = pd.DataFrame(rows)
    # wall-clock and run status per run
    wall = np.full(len(df), np.nan)
    run_status = np.empty(len(df), dtype=object)
    div_step = np.full(len(df), np.nan)
    for info in infos:
        mask = ((df["dataset"] == info.dataset) & (df["objective"] == info.objective)
                & (df["seed"] == info.seed)).to_numpy()
        if not mask.any():
            continue
        wall[mask] = wall_clock_at(read_training(info.run_dir), df.loc[mask, "step"].to_numpy(), info)
        run_status[mask] = info.status
        div_step[mask] = info.diverged_step
    df["wall_clock_s"] = wall
    df["run_status"] = run_status
    df["diverged_step"] = pd.Series(div_step, index=df.index).astype("Int64")
    metrics = metric_columns(df)
    for m in metrics:
        df[m] = pd.to_numeric(df[m], errors="coerce").astype(float)
    for col in PROTOCOL_COLUMNS:
        if col not in df:
            df[col] = pd.NA
    for col in ("n_gen", "n_real", "eval_seed"):  # counts and seeds stay integers (empty when missing)
        num = pd.to_numeric(df[col], errors="coerce")
        if num.notna().any() and (num.dropna() % 1 == 0).all():
            df[col] = num.round().astype("Int64")
    df["seed"] = df["seed"].astype(int)
    df["step"] = df["step"].astype(int)
    cols = base + metrics + list(PROTOCOL_COLUMNS)
    cols += [c for c in df.columns if c not in cols and c not in ("wall_clock_s", "run_status", "diverged_step")]
    cols += ["wall_clock_s", "run_status", "diverged_step"]
    return _sort(df[cols], ["step"])


def collect_training(run_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """training.csv as a DataFrame: identifiers + run_status + every metrics.csv column."""
    frames = []
    for info in _run_infos(run_dirs):
        tr = read_training(info.run_dir)
        if tr.empty:
            continue
        tr.insert(0, "dataset", info.dataset)
        tr.insert(1, "objective", info.objective)
        tr.insert(2, "seed", info.seed)
        tr.insert(3, "run_status", info.status)
        frames.append(tr)
    if not frames:
        return pd.DataFrame(columns=[*ID_COLUMNS, "run_status", *TRAINING_COLUMNS])
    df = pd.concat(frames, ignore_index=True)
    return _sort(df, ["step"] if "step" in df else [])


def collect_runs(run_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """runs.csv as a DataFrame: one row per run."""
    rows = []
    for info in _run_infos(run_dirs):
        s = info.summary or {}
        tr = read_training(info.run_dir)
        steps_done = _to_float(s.get("steps_done"))
        if math.isnan(steps_done) and "step" in tr and tr["step"].notna().any():
            steps_done = float(tr["step"].max())
        wall = _to_float(s.get("wall_clock_s"))
        if math.isnan(wall) and "time_s" in tr and tr["time_s"].notna().any():
            wall = float(tr["time_s"].max())
        n_scores = sum(RunFiles(info.run_dir).scores(int(st)).exists()
                       for st in (s.get("config") or {}).get("checkpoint_steps") or [])
        rows.append({
            "dataset": info.dataset, "objective": info.objective, "seed": info.seed,
            "status": info.status, "steps": info.steps, "steps_done": steps_done,
            "diverged_step": info.diverged_step, "wall_clock_s": wall,
            "s_per_1k_gen_iters": wall / steps_done * 1000.0 if steps_done and steps_done > 0 else math.nan,
            "device": s.get("device") or "", "model": s.get("model") or "",
            "n_checkpoints": len(s.get("checkpoints") or {}), "n_score_files": n_scores,
            "run_dir": str(info.run_dir),
        })
    cols = ["dataset", "objective", "seed", "status", "steps", "steps_done", "diverged_step", "wall_clock_s",
            "s_per_1k_gen_iters", "device", "model", "n_checkpoints", "n_score_files", "run_dir"]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows, columns=cols)
    for col in ("steps", "steps_done", "diverged_step"):
        df[col] = df[col].astype(float).round().astype("Int64")
    return _sort(df)


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Atomic CSV write (missing values stay empty cells)."""
    path = Path(path)
    write_text(path, df.to_csv(index=False, lineterminator="\n"))
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by this module (empty file -> empty frame)."""
    try:
        return pd.read_csv(path, keep_default_na=True)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def collect_floors(floor_files: Iterable[str | Path]) -> pd.DataFrame:
    """floors.csv: one row per (dataset, metric) with the real-vs-real mean, std, repeats and N (gan.metrics.floor)."""
    rows = []
    for path in floor_files:
        obj = read_json_object(path, ("dataset", "metrics", "repeats", "n_gen"), rerun_remedy("floor", path))
        for metric, v in obj["metrics"].items():
            rows.append({"dataset": obj["dataset"], "metric": metric, "floor_mean": v["mean"],
                         "floor_std": v["std"], "floor_repeats": obj["repeats"], "n_gen": obj["n_gen"],
                         "note": obj.get("note", "")})
    cols = ["dataset", "metric", "floor_mean", "floor_std", "floor_repeats", "n_gen", "note"]
    return pd.DataFrame(rows, columns=cols)


#: the title of each aggregate table's page in the report (its caption, workflow/report/<name>.rst, says more)
AGGREGATE_TITLES = {
    "scores": "Every checkpoint's scores: one row per dataset, objective, run seed and step",
    "training": "Training curves of every run: one row per logged generator iteration",
    "runs": "Every run: final status, steps done, training wall-clock and device",
    "floors": "Every metric's floor, per dataset: unseen real samples scored as the generated ones are",
}


def aggregate_results(run_dirs: Iterable[str | Path] | str | Path, out_dir: str | Path,
                      complete_grid: bool = True, floors: Iterable[str | Path] = ()) -> dict[str, Path]:
    """Write scores, training, runs and floors of `run_dirs` into `out_dir`, each as .csv (the data) and .html
    (its page in the report, gan.report.tables.write_html).

    `run_dirs`: the run folders (what the DAG passes: any file inside a run folder, such as its summary.json,
    also works), or a single path to a `runs/` root, which is globbed with :func:`find_run_dirs`.
    Returns {"scores": csv, "training": csv, "runs": csv, "floors": csv, "scores_html": html, ...}.
    """
    from gan.report.tables import write_html  # the tables module reads this one's helpers at import

    if isinstance(run_dirs, (str, Path)):
        run_dirs = find_run_dirs(run_dirs)
    dirs = [Path(d) for d in run_dirs]
    out_dir = Path(out_dir)
    frames = {"scores": collect_scores(dirs, complete_grid=complete_grid), "training": collect_training(dirs),
              "runs": collect_runs(dirs), "floors": collect_floors(floors)}
    out = {name: write_csv(df, out_dir / f"{name}.csv") for name, df in frames.items()}
    for name, df in frames.items():
        out[f"{name}_html"] = write_html(df, out_dir / f"{name}.html", AGGREGATE_TITLES[name])
    return out
