# Shared helpers: config validation, wildcard constraints, input functions and the final targets.
# Every path comes from gan.layout (the one owner of the results layout); every name is checked against the gan
# registries, and every run's settings are resolved here, so a bad config fails at DAG-build time, naming the key.
import os
import re

from snakemake.exceptions import WorkflowError

from gan.grid import typed_overrides  # noqa: E402
from gan.schema import validate as validate_config  # noqa: E402

# `--config seeds=[0,1]` arrives as strings (Snakemake reads its values with YAML's BaseLoader): type them as a
# YAML file would, for the keys given on the command line only
typed_overrides(config, workflow.config_settings.config)

# a complete config given with --configfile alone is merged into the paper config, which rarely validates: say so
MERGED_HINT = (
    " (note: --configfile merges into config/config.yaml; a complete config of its own, such as "
    "config/smoke.yaml, needs --replace-workflow-config)"
    if workflow.overwrite_configfiles and not workflow.config_settings.replace_workflow_config
    else ""
)
try:
    validate_config(config)
except WorkflowError as err:
    raise WorkflowError(f"{err}{MERGED_HINT}") from None

from gan.grid import BenchmarkGrid  # noqa: E402
from gan.metrics import EXTRACTORS  # noqa: E402
from gan.layout import AGGREGATES, ALL_METRICS_TABLE, TABLE_FORMATS, TABLES, Layout, RunFiles  # noqa: E402
from gan.plugins import export as export_plugins  # noqa: E402
from gan.runs import set_aside_replaced  # noqa: E402
from gan.status import failure_message, success_message  # noqa: E402

try:
    GRID = BenchmarkGrid(config)
except ValueError as err:
    raise ValueError(f"invalid config: {err}{MERGED_HINT}") from None

# jobs load the same plugin files (registrations outside the package) through the environment
export_plugins(config.get("plugins", []))
# jobs import the `gan` package of this checkout, also in the rules' conda environment (--sdm conda), which holds
# only its dependencies (workflow/envs/gan.yaml)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (workflow.basedir, os.environ.get("PYTHONPATH")) if p))
if "jobs_per_gpu" in config:  # GPU slots per device for gan.gpu's claim in every job
    os.environ.update(GAN_BENCH_JOBS_PER_GPU=str(config["jobs_per_gpu"]))

LAYOUT = GRID.layout
RUNS = LAYOUT.run_dir("{dataset}", "{objective}", "{seed}")
RUN = RunFiles(RUNS)
MLFLOW = config.get("mlflow", {})


def _alternatives(names):
    return "|".join(re.escape(n) for n in names)


wildcard_constraints:
    dataset=_alternatives(GRID.datasets),
    objective=_alternatives(GRID.objectives),
    seed=r"\d+",
    step=r"\d+",
    extractor=_alternatives(EXTRACTORS),
    split="train|test",
    n=r"\d+",
    eval_seed=r"\d+",
    mode=r"[A-Za-z0-9_]+",


def run_dir(wildcards):
    return LAYOUT.run_dir(wildcards.dataset, wildcards.objective, wildcards.seed)


def run_identity(wildcards):
    # identity travels as data: jobs write it into their files, nothing parses it back from a path
    return {"dataset": wildcards.dataset, "objective": wildcards.objective, "seed": int(wildcards.seed)}


def tracking_outputs():
    return [LAYOUT.mlflow_synced] if MLFLOW.get("enabled", True) else []


# ---------------------------------------------------------------------------------------------------------------
# What a job asks a cluster for, from its dataset's registry kind: "points" (the 2-D toy sets: one CPU) or "images"
# (one GPU). Every rule that may leave the submitting node declares threads, mem_mb, gpu and runtime through these
# helpers: the SLURM profile then holds only the cluster's own names (partitions, account), and a group job, which
# asks for the sum over the members that run side by side, sums the members' real sizes, not the profile default.
# ---------------------------------------------------------------------------------------------------------------

# What one job of each kind asks for (the one table of job sizes):
# - mem_mb: a cluster job runs its script under two Snakemake processes (the batch script's and the one srun
#   starts), each with torch imported: measured 0.4-0.5 GB of private memory apiece plus 0.3 GB of shared libraries,
#   so about 1.6 GB before any data. Image jobs add the dataset's tensors (CIFAR-10's two splits: 0.7 GB as float),
#   the CUDA context and the Inception network.
# - gpu: images train and score on a GPU; the 2-D MLPs are faster on one CPU core than launch-bound on a GPU.
# - loader_threads: image scoring (score, reference) gives threads - 1 DataLoader workers to resizing the images
#   for the extractor; 2-D points need one thread.
# - train_runtime, eval_minutes_per_checkpoint: minutes (Inception on 10k images is about a minute a checkpoint on
#   a GPU).
JOB_SIZE = {
    "points": dict(mem_mb=3000, gpu=0, loader_threads=1, train_runtime=120, eval_minutes_per_checkpoint=1),
    "images": dict(mem_mb=8000, gpu=1, loader_threads=4, train_runtime=720, eval_minutes_per_checkpoint=5),
}

# A GPU type for the GPU jobs only (sbatch --gpus=<model>:1), from the environment of the `snakemake` call. It
# cannot be a profile resource: for a rule that runs both kinds the plugin turns gpu_model with gpu=0 into
# --gpus=<model>:0 (snakemake-executor-plugin-slurm 2.8, utils.set_gres_string).
GPU_MODEL = os.environ.get("GAN_BENCH_GPU_MODEL") or None


def job_size(wildcards, key):
    return JOB_SIZE[GRID.kind(wildcards.dataset)][key]


def job_mem_mb(wildcards):
    return job_size(wildcards, "mem_mb")


def train_threads(wildcards):
    # one thread: the models are small and a GPU does the work; CPU runs gain more from parallel jobs
    return 1


def loader_threads(wildcards):
    return job_size(wildcards, "loader_threads")


def train_runtime(wildcards):
    return job_size(wildcards, "train_runtime")


def uses_gpu(wildcards):
    return job_size(wildcards, "gpu")


def reference_uses_gpu(wildcards):
    # the extractor's registration says whether its network wants a GPU (the toy points need none)
    return int(GRID.extractor(wildcards.extractor).gpu)


def gpu_model(wildcards):
    # None drops the resource: a CPU job asks no GPU of any type
    return GPU_MODEL if uses_gpu(wildcards) else None


def reference_gpu_model(wildcards):
    return GPU_MODEL if reference_uses_gpu(wildcards) else None


def n_samples(wildcards):
    return GRID.samples(wildcards.dataset)


def checkpoint_steps(wildcards):
    return list(GRID.checkpoint_steps(wildcards.dataset))


def eval_runtime(wildcards):
    # minutes for all of a run's checkpoints
    per_checkpoint = job_size(wildcards, "eval_minutes_per_checkpoint")
    return 10 + per_checkpoint * len(GRID.checkpoint_steps(wildcards.dataset))


def train_settings(wildcards):
    return GRID.train_settings(wildcards.dataset, wildcards.objective, int(wildcards.seed))


def dataset_spec(wildcards):
    """The registered dataset and its options behind a dataset entry (what prepare_data builds)."""
    spec = GRID.dataset_entries[wildcards.dataset].spec
    return {"dataset": spec.name, "options": spec.options()}


def extractor_weights(dataset, extractor):
    """The weights file a feature extractor reads, as its registration declares (downloaded or trained), or None."""
    return GRID.extractor_weights(dataset, extractor)


def reference_rule_inputs(wildcards):
    inputs = {"data": LAYOUT.prepared(wildcards.dataset)}
    weights = extractor_weights(wildcards.dataset, wildcards.extractor)
    if weights:
        inputs["weights"] = weights
    return inputs


def _references_and_weights(dataset):
    inputs = {}
    for extractor, path in GRID.reference_paths(dataset).items():
        inputs[f"reference_{extractor}"] = path
        weights = extractor_weights(dataset, extractor)
        if weights:
            inputs[f"weights_{extractor}"] = weights
    return inputs


def score_rule_inputs(wildcards):
    return {
        "samples": str(RunFiles(run_dir(wildcards)).samples_index),
        **_references_and_weights(wildcards.dataset),
    }


def floor_rule_inputs(wildcards):
    return {"data": LAYOUT.prepared(wildcards.dataset), **_references_and_weights(wildcards.dataset)}


def floor_files():
    return [LAYOUT.floor(d) for d in GRID.datasets]


def score_files(dataset=None):
    """Every run's score index (the per-checkpoint score files it lists are the aggregate's input)."""
    return [str(LAYOUT.run(d, o, s).scores_index) for d, o, s in GRID.runs(dataset)]


def summary_files():
    return [str(LAYOUT.run(d, o, s).summary) for d, o, s in GRID.runs()]


def run_dirs():
    return [LAYOUT.run_dir(d, o, s) for d, o, s in GRID.runs()]


def report_outputs():
    return LAYOUT.tables() + [out.path for out in FIGURES_STAGE.outputs]


# WGAN-GP Figure 1(a), its own stage (workflow/rules/figure1a.smk); its settings are the validated config's
# `figure1a:` block (config/schema.yaml holds the defaults), its stem, folder and caption its registration's
from gan.optimal_critic import CONSTRAINTS as FIGURE1A_CONSTRAINTS  # noqa: E402
from gan.report.registry import caption_path, figure_spec  # noqa: E402

FIGURE1A = GRID.figure1a
FIGURE1A_FIGURE = figure_spec("figure1a")


def figure1a_critic_files():
    return [LAYOUT.optimal_critic(d, c) for d in FIGURE1A["datasets"] for c in FIGURE1A_CONSTRAINTS]


def figure1a_figure(fmt):
    return LAYOUT.figure(FIGURE1A_FIGURE.stem, fmt, FIGURE1A_FIGURE.stage)


def figure1a_files():
    """The figure (pdf, png) and the gradient-norm table (csv, md, html); nothing when figure1a.enabled is false."""
    if not FIGURE1A["enabled"] or not FIGURE1A["datasets"]:
        return []
    return [figure1a_figure(f) for f in ("pdf", "png")] + [LAYOUT.figure1a_table(f) for f in ("csv", "md", "html")]


def get_final_output():
    return [
        LAYOUT.aggregate("scores"),
        LAYOUT.provenance,
        *report_outputs(),
        *tracking_outputs(),
        *figure1a_files(),
        *PAPERS_FILES,  # workflow/rules/papers.smk
    ]


# ---------------------------------------------------------------------------------------------------------------
# Figures: the registered figures' plan for this grid (gan.report.registry.figures_stage): every file the figures
# rule writes, with its caption, and every file it reads, with its identity as params. The figures never load a
# model or glob a run folder; the critic_grid rule (evaluate.smk) computes the critic's values over the plane for
# the toy runs.
# ---------------------------------------------------------------------------------------------------------------
from gan.report.inputs import Benchmark  # noqa: E402
from gan.report.registry import figures_stage  # noqa: E402

BENCHMARK = Benchmark.from_grid(GRID)  # what the figures are planned from
FIGURES_STAGE = figures_stage(BENCHMARK)


def figures_rule_inputs(wildcards):
    return FIGURES_STAGE.inputs


def figures_rule_params():
    return {
        "results": lambda wildcards, input: Layout.holding(input.scores, "scores").root,
        "datasets": GRID.datasets,
        "toy_datasets": GRID.toy_datasets,
        "runs": GRID.runs(),
        "spaces": BENCHMARK.spaces,
        "inputs": FIGURES_STAGE.values,
    }


# ---------------------------------------------------------------------------------------------------------------
# The commands the Snakefile's onsuccess / onerror messages print (gan.status)
# ---------------------------------------------------------------------------------------------------------------
def config_files():
    """This call's --configfile files, relative to the working directory where they are inside it."""
    files = [os.path.relpath(f) for f in workflow.overwrite_configfiles]
    return [r if not r.startswith("..") else str(f) for r, f in zip(files, workflow.overwrite_configfiles)]


def config_arguments():
    """This call's config arguments, as the commands the end messages print must repeat them."""
    args = [a for f in config_files() for a in ("--configfile", f)]
    if workflow.config_settings.replace_workflow_config:
        args.append("--replace-workflow-config")
    overrides = workflow.config_settings.config
    return args + (["--config", *(f"{k}={v}" for k, v in overrides.items())] if overrides else [])


def status_command():
    """`python -m gan status` for this benchmark: its one complete config, else its results folder (which knows its
    config once the DAG has written provenance.json)."""
    files, settings = config_files(), workflow.config_settings
    if not settings.config and (len(files) == 1 and settings.replace_workflow_config or not files):
        return f"python -m gan status --configfile {files[0] if files else 'config/config.yaml'}"
    return f"python -m gan status --results-dir {LAYOUT.root}"
