"""Where every file of a benchmark lives: the one owner of docs/CONTRACTS.md's layout.

Rules, scripts, metrics, report and tracking ask this module for paths; nothing else spells them out. It imports
nothing heavy, so the DAG can use it at build time. Called with Snakemake wildcards (``"{dataset}"``) the same
functions return the rules' patterns, so a rule's pattern and a job's concrete path cannot drift apart.

Identity (dataset entry, objective entry, run seed, step) travels as data (params, file contents): nothing
parses it back out of a path.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

#: every table the tables stage writes, each as .csv, .md, .tex and .html (the report shows the .html)
TABLES = ("final_scores", "pairwise", "toy")
TABLE_FORMATS = ("csv", "md", "tex", "html")
#: the long form of final_scores (every metric of every dataset and objective), as .csv and .html
ALL_METRICS_TABLE = "final_scores_all_metrics"
#: the tidy tables the aggregate stage writes, each as .csv (the data) and .html (the report shows it)
AGGREGATES = ("scores", "training", "runs", "floors")
AGGREGATE_FORMATS = ("csv", "html")
FIGURE_FORMATS = ("pdf", "png")
#: the folder name (in place of an experiment's) of `python -m gan train` runs given no --run-dir
ONE_OFF = "one-off"


def results_root(results_dir: str, experiment: str) -> str:
    """A benchmark's results folder: `results_dir` (config/schema.yaml's default: ``results/{experiment}``) with
    `{experiment}` replaced, so that configs of different experiments never share a file."""
    if "{experiment}" in results_dir and not experiment:
        raise ValueError(f"results_dir {results_dir!r} names {{experiment}} but the config names no experiment")
    return results_dir.replace("{experiment}", experiment or "")


def step_name(step: int | str) -> str:
    """`step0000100` for 100; a Snakemake wildcard string ("{step}") or an already padded string passes through."""
    return f"step{step:07d}" if isinstance(step, int) else f"step{step}"


@dataclass(frozen=True)
class RunFiles:
    """The files of one run folder (the same whether the DAG or `python -m gan train --run-dir` made it)."""

    dir: Path

    def __init__(self, run_dir: str | Path):
        object.__setattr__(self, "dir", Path(run_dir))

    @property
    def summary(self) -> Path:
        return self.dir / "summary.json"

    @property
    def attempts(self) -> Path:
        """One line per training attempt event (gan.progress.note_attempt): survives the retry of a failed job."""
        return self.dir / "attempts.log"

    @property
    def metrics(self) -> Path:
        return self.dir / "metrics.csv"

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"

    def checkpoint(self, step: int | str) -> Path:
        return self.checkpoints / f"{step_name(step)}.pt"

    def samples(self, step: int | str) -> Path:
        return self.dir / "samples" / f"{step_name(step)}.npz"

    def picture(self, step: int | str) -> Path:
        return self.dir / "samples" / f"{step_name(step)}.png"

    def scores(self, step: int | str) -> Path:
        return self.dir / "scores" / f"{step_name(step)}.json"

    def preview(self, step: int | str) -> Path:
        """The training job's picture of its generator at step 0 and at each configured checkpoint (fixed noise,
        gan.sampling.save_preview): MLflow's step images, there while the run trains."""
        return self.dir / "previews" / f"{step_name(step)}.png"

    @property
    def sample_sheet(self) -> Path:
        """Every checkpoint's picture of the run side by side (the sample job's page in the Snakemake report)."""
        return self.dir / "samples" / "by_step.png"

    @property
    def samples_index(self) -> Path:
        """The `sample` job's declared output: every checkpoint's samples and picture (gan.sampling.sample_run)."""
        return self.dir / "samples" / "index.json"

    @property
    def scores_index(self) -> Path:
        """The `score` job's declared output: every checkpoint's score file (gan.metrics.score_run)."""
        return self.dir / "scores" / "index.json"

    def progress(self, stage: str) -> Path:
        """A per-run job's progress, kept only until it finishes (gan.progress)."""
        return self.dir / stage / ".progress.json"

    def critic_grid(self, step: int | str) -> Path:
        """The critic's values over the plane at a checkpoint (toy data), for the critic figures."""
        return self.dir / "critic" / f"{step_name(step)}.npz"

    def stored_steps(self) -> dict[int, Path]:
        """Numbered checkpoints on disk: {step: path}."""
        out = {}
        for p in self.checkpoints.glob("step*.pt") if self.checkpoints.is_dir() else ():
            digits = p.stem[len("step"):]
            if digits.isdigit():
                out[int(digits)] = p
        return dict(sorted(out.items()))


def _inside(root: str, path: str) -> str:
    """`path`, built as root/..., if every part after `root` is a plain name (no "..", ".", empty or absolute part):
    an entry name such as "../../x" must not put a run's files outside the results folder."""
    rel = path[len(root):]
    if not rel.startswith("/") or any(part in ("", ".", "..") for part in rel.lstrip("/").split("/")):
        raise ValueError(f"path {path!r} would leave its folder {root!r}: a name in it is not a plain file name")
    return path


def _rooted(method):
    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        return _inside(self.root, method(self, *args, **kwargs))
    return checked


@dataclass(frozen=True)
class Layout:
    """The folders of one benchmark: `root` (results) and `resources` (downloads)."""

    root: str = "results"
    resources: str = "resources"

    # --- data --------------------------------------------------------------------------------------------------
    @property
    def downloads(self) -> str:
        """Raw files as their publishers ship them (torchvision's layout), fetched once by `prepare_data`."""
        return f"{self.resources}/data"

    @_rooted
    def prepared(self, dataset: str) -> str:
        """The prepared dataset (tensors of both splits + the dataset's description) every job reads."""
        return f"{self.root}/data/{dataset}.pt"

    # --- runs --------------------------------------------------------------------------------------------------
    @_rooted
    def run_dir(self, dataset: str, objective: str, seed: int | str) -> str:
        return f"{self.root}/runs/{dataset}/{objective}/seed{seed}"

    def run(self, dataset: str, objective: str, seed: int | str) -> RunFiles:
        return RunFiles(self.run_dir(dataset, objective, seed))

    @_rooted
    def set_aside(self, dataset: str, objective: str, seed: int | str, config_hash: str) -> str:
        """Where a finished (or started) run goes when the config changes its settings (gan.runs): out of `runs/`,
        named by the hash of the settings it was trained with, so the DAG's patterns and globs never see it."""
        return f"{self.root}/replaced/{dataset}/{objective}/seed{seed}-{config_hash}"

    @_rooted
    def one_off_run(self, dataset: str, objective: str, seed: int | str, config_hash: str) -> str:
        """A `python -m gan train` run given no --run-dir (root: results_root(.., ONE_OFF)): its settings' hash in
        the name, so other settings never resume from, or overwrite, its files; the same settings resume it."""
        return f"{self.root}/{dataset}/{objective}/seed{seed}-{config_hash}"

    # --- references and feature extractors ---------------------------------------------------------------------
    @_rooted
    def reference(self, dataset: str, extractor: str, mode: str, split: str, n_real: int | str,
                  eval_seed: int | str) -> str:
        """Real-data statistics; every parameter of the protocol is in the name."""
        return f"{self.root}/reference/{dataset}/{extractor}_{mode}_{split}_{n_real}_s{eval_seed}.npz"

    @_rooted
    def floor(self, dataset: str) -> str:
        """Real-vs-real scores at the generated samples' N and protocol: every metric's floor."""
        return f"{self.root}/reference/{dataset}/floor.json"

    @_rooted
    def classifier(self, dataset: str) -> str:
        """The dataset's own classifier (a feature extractor trained on its labels)."""
        return f"{self.root}/reference/{dataset}/classifier.pt"

    def weights(self, file_name: str) -> str:
        """A feature extractor's downloaded weights (its fetch rule writes them once)."""
        return f"{self.resources}/{file_name}"

    # --- aggregates, tables, figures ---------------------------------------------------------------------------
    def aggregate(self, name: str, fmt: str = "csv") -> str:
        if name not in AGGREGATES:
            raise ValueError(f"unknown aggregate table {name!r}; valid: {', '.join(AGGREGATES)}")
        if fmt not in AGGREGATE_FORMATS:
            raise ValueError(f"unknown format {fmt!r} of table {name!r}; valid: {', '.join(AGGREGATE_FORMATS)}")
        return f"{self.root}/tables/{name}.{fmt}"

    @_rooted
    def table(self, name: str, fmt: str) -> str:
        return f"{self.root}/tables/{name}.{fmt}"

    def tables(self, names: Sequence[str] = TABLES) -> list[str]:
        """Every file of the tables stage: each table in every format, and the long form of final_scores."""
        return [self.table(n, f) for n in names for f in TABLE_FORMATS] + [self.table(ALL_METRICS_TABLE, f)
                                                                           for f in ("csv", "html")]

    def figure(self, stem: str, fmt: str, stage: str = "figures") -> str:
        """A figure file; which figures exist is the figure registry's plan (gan.report.registry)."""
        return f"{self.root}/{stage}/{stem}.{fmt}"

    def figure_table(self, name: str, stage: str = "figures", fmt: str = "csv") -> str:
        """A table a figure writes beside itself (the critic figures' within-run correlations): .csv, the data,
        and .html, the page the report shows."""
        return f"{self.root}/{stage}/{name}.{fmt}"

    # --- WGAN-GP Figure 1(a): critics trained to optimality against a fixed generator (gan.optimal_critic) -----
    @_rooted
    def optimal_critic(self, dataset: str, constraint: str) -> str:
        """One critic's value surface, scatter points, loss curve and gradient-norm statistics (npz)."""
        return f"{self.root}/figure1a/{dataset}_{constraint}.npz"

    def figure1a_table(self, fmt: str) -> str:
        """The gradient-norm statistics of every critic (csv, md, and html: the page the report shows)."""
        return f"{self.root}/figure1a/gradient_norms.{fmt}"

    # --- the papers' small examples (gan.wgan_examples.STAGES): one stage and one folder each --------------------
    @_rooted
    def paper_stage_data(self, stage: str) -> str:
        """What a stage's job computed (npz), which its figure rule draws."""
        return f"{self.root}/{stage}/{stage}.npz"

    # --- provenance, tracking, logs ----------------------------------------------------------------------------
    @property
    def provenance(self) -> str:
        return f"{self.root}/provenance.json"

    @classmethod
    def holding(cls, path: str | Path, kind: str) -> "Layout":
        """The layout whose file of `kind` ("provenance", or an aggregate table's name) is `path`: rules infer the
        results root from a declared input (as Snakemake's linter asks) instead of passing it as a fixed prefix."""
        probe = cls(root="ROOT")
        template = probe.provenance if kind == "provenance" else probe.aggregate(kind)
        depth = len(Path(template).parts) - 1
        return cls(root=str(Path(path).parents[depth - 1]))

    @property
    def report(self) -> str:
        """`snakemake --report` target: the self-contained HTML report."""
        return f"{self.root}/report.html"

    @property
    def mlflow_db(self) -> str:
        return f"{self.root}/mlflow.db"

    @property
    def mlflow_artifacts(self) -> str:
        return f"{self.root}/mlartifacts"

    @property
    def mlflow_synced(self) -> str:
        return f"{self.root}/mlflow/synced.json"

    @property
    def mlflow_lock(self) -> str:
        """Held by the MLflow sync (the store's only writer), so two syncs never create the same run twice."""
        return f"{self.root}/mlflow/sync.lock"

    @_rooted
    def log(self, stage: str, *parts: str) -> str:
        return f"{self.root}/logs/{stage}" + ("/" + "/".join(parts) if parts else "") + ".log"

    @_rooted
    def benchmark(self, stage: str, *parts: str) -> str:
        return f"{self.root}/benchmarks/{stage}" + ("/" + "/".join(parts) if parts else "") + ".tsv"
