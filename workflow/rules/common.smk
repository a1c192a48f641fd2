# Shared helpers: config validation, wildcard constraints, input functions and the final targets.
import json
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../../config/schema.yaml")

# the gan package checks names against its registries and every run's resolved settings, so a bad config
# fails here, at DAG-build time, with the offending key, before any job runs
from gan.workflow import BenchmarkConfig  # noqa: E402

try:
    BENCH = BenchmarkConfig(config)
except ValueError as err:
    raise ValueError(f"invalid config: {err}") from None

RESULTS = BENCH.results_dir
RUNS = f"{RESULTS}/runs/{{dataset}}/{{objective}}/seed{{seed}}"
MLFLOW = config.get("mlflow", {})


wildcard_constraints:
    dataset="|".join(BENCH.datasets),
    objective="|".join(BENCH.objectives),
    seed=r"\d+",
    step=r"\d+",
    extractor="inception|classifier|points",
    split="train|test",
    n=r"\d+",


def run_dir(wildcards):
    return RUNS.format(**wildcards)


def tracking_store_marker():
    # ancient(): the store must exist before training starts, but re-creating it (e.g. a renamed experiment,
    # read from the marker by the job) never makes Snakemake retrain
    return ancient(f"{RESULTS}/mlflow/store.json") if MLFLOW.get("enabled", True) else []


def tracking_params(wildcards):
    # nothing that changes with the grid (seeds, objectives): a new seed must not rerun the existing runs.
    # The URI is resolved in the job, where MLFLOW_TRACKING_URI wins.
    return {"enabled": MLFLOW.get("enabled", True), "tracking_uri": MLFLOW.get("tracking_uri"), "results_dir": RESULTS}


def tracking_outputs():
    return [f"{RESULTS}/mlflow/synced.json"] if MLFLOW.get("enabled", True) else []


def train_threads(wildcards):
    # one thread: the models are small and a GPU does the work; CPU runs gain more from parallel jobs
    return 1


def train_mem_mb(wildcards):
    return 8000 if BENCH.is_images(wildcards.dataset) else 2000


def train_runtime(wildcards):
    return 720 if BENCH.is_images(wildcards.dataset) else 120


def n_samples(wildcards):
    return BENCH.samples(wildcards.dataset)


def train_settings(wildcards):
    return BENCH.train_settings(wildcards.dataset, wildcards.objective, int(wildcards.seed))


def uses_gpu(wildcards):
    return int(BENCH.is_images(wildcards.dataset))


def dataset_options(wildcards):
    return BENCH.config["datasets"][wildcards.dataset]["train"].get("dataset_options", {})


def extractor_weights(dataset, extractor):
    """The weights file a feature extractor needs: clean-fid's Inception, or the dataset's own classifier."""
    if extractor == "inception":
        return BENCH.scoring.get("inception_weights", "resources/inception-2015-12-05.pt")
    if extractor == "classifier":
        return f"{RESULTS}/reference/{dataset}/classifier.pt"
    return None


def reference_rule_inputs(wildcards):
    inputs = {"data": f"{RESULTS}/data/{wildcards.dataset}.prepared.json"}
    weights = extractor_weights(wildcards.dataset, wildcards.extractor)
    if weights:
        inputs["weights"] = weights
    return inputs


def reference_uses_gpu(wildcards):
    return int(wildcards.extractor != "points")


def score_rule_inputs(wildcards):
    inputs = {"samples": f"{RUNS}/samples/step{{step}}.npz".format(**wildcards)}
    for extractor, path in BENCH.reference_paths(wildcards.dataset).items():
        inputs[f"reference_{extractor}"] = path
        weights = extractor_weights(wildcards.dataset, extractor)
        if weights:
            inputs[f"weights_{extractor}"] = weights
    return inputs


def score_files(dataset=None):
    return [
        f"{RUNS}/scores/step{{step:07d}}.json".format(dataset=d, objective=o, seed=s, step=step)
        for d, o, s in BENCH.runs(dataset)
        for step in BENCH.checkpoint_steps(d)
    ]


def summary_files():
    return [f"{RUNS}/summary.json".format(dataset=d, objective=o, seed=s) for d, o, s in BENCH.runs()]


def run_dirs():
    return [RUNS.format(dataset=d, objective=o, seed=s) for d, o, s in BENCH.runs()]


TABLES = ("final_scores", "pairwise", "toy")


def figure_files():
    from gan.report.layout import expected_figures

    return [str(p) for p in expected_figures(f"{RESULTS}/figures", BENCH.datasets)]


def figure_caption(path):
    # one caption per figure family: samples_digits.png -> samples.rst, critic_8gaussians.pdf -> critic.rst
    stem = Path(path).stem
    for family in ("samples_strip", "convergence_steps", "convergence_wallclock", "critic_correlation",
                   "toy_critics", "final_distribution", "samples", "critic"):
        if stem.startswith(family):
            return f"../report/{family}.rst"
    raise ValueError(f"no caption for figure {path}")


def figure_labels(path):
    return {"figure": Path(path).stem, "format": Path(path).suffix.lstrip(".")}


def report_outputs():
    return [f"{RESULTS}/tables/{name}.{ext}" for name in TABLES for ext in ("csv", "md", "tex")] + figure_files()


def get_final_output():
    return [
        f"{RESULTS}/tables/scores.csv",
        f"{RESULTS}/provenance.json",
        *report_outputs(),
        *tracking_outputs(),
    ]
