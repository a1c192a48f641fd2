"""`python -m gan <command>`: the one command-line front door; the same functions the Snakemake rules call.

Commands: train, sample, bench, prepare (runs), reference, score, train-classifier, fetch-weights (scoring),
mlflow-sync (gan.tracking registers it), status (every run's progress; gan.status registers it). `--plugin FILE` (repeatable, anywhere on the line) loads registrations
from a Python file first, so a plugin's objective, dataset, model, extractor or metric and its hyper-parameters are
flags and choices. Defaults a benchmark config also has are config/schema.yaml's (gan.schema).

Error policy: a user error (bad value, unknown name, missing file, existing output) is one line on stderr,
`error: ...` naming the value, and exit status 2; unexpected internal errors keep their traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import sys
import typing
from pathlib import Path
from typing import Any, Callable

import yaml

from . import schema

log = logging.getLogger("gan")


class UserError(Exception):
    """A mistake the user can fix (raised by the parser and by commands); one line, exit status 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from .checkpoint import CheckpointError

    # ConfigError, DatasetNotFound and InceptionWeightsMissing are ValueError / FileNotFoundError subclasses
    return (UserError, ValueError, FileNotFoundError, FileExistsError, CheckpointError)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a UserError (one line, exit 2) instead of usage text + SystemExit."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise UserError(f"{self.prog}: {message}")


# --------------------------------------------------------------------------------------------------- values

def _parse_value(text: str):
    """A YAML scalar or collection; numbers first (YAML 1.1 reads '1e-4' as a string)."""
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(f"not valid YAML: {text!r} ({str(err).splitlines()[0]})") from None


def _number(kind: type) -> Callable[[str], Any]:
    def convert(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None
    convert.__name__ = kind.__name__
    return convert


def _mapping(text: str) -> dict:
    value = _parse_value(text)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a YAML mapping such as '{{image_size: 32}}', got {text!r}")
    return value


class ListAction(argparse.Action):
    """A list flag in every form people type: `--x 1`, `--x 1 2`, `--x 1,2`, `--x '[1, 2]'`."""

    def __init__(self, option_strings, dest, element: Callable[[str], Any] = str, **kwargs):
        kwargs.setdefault("nargs", "+")
        self.element = element
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        out = []
        for value in values if isinstance(values, list) else [values]:
            for token in re.split(r"[,\s]+", str(value).strip().strip("[]()")):
                if not token:
                    continue
                try:
                    out.append(self.element(token))
                except (ValueError, argparse.ArgumentTypeError):
                    kind = getattr(self.element, "__name__", "value")
                    raise argparse.ArgumentError(self, f"invalid {kind} value: {token!r}") from None
        if not out:
            raise argparse.ArgumentError(self, f"expected at least one value, got {values!r}")
        setattr(namespace, self.dest, out)


def _add_typed(parser: argparse.ArgumentParser, flag: str, dest: str, kind: str, help: str) -> None:
    """One flag for a value whose type is written as an annotation string ('int', 'tuple[float, float] | None')."""
    help = help.replace("%", "%%")
    base = kind.replace(" ", "").removesuffix("|None").removeprefix("None|").removeprefix("Optional[")
    metavar = dest.split(":")[-1].upper()
    if base == "bool":
        parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help)
    elif base.startswith(("list[", "tuple[", "List[", "Tuple[", "Sequence[")):
        element = _number(float) if "float" in base else _number(int) if "int" in base else str
        parser.add_argument(flag, dest=dest, action=ListAction, element=element, default=None,
                            metavar="X" if "float" in base else "N" if "int" in base else "VALUE",
                            help=help + " (several values: '1 2' or '1,2')")
    elif base.startswith(("dict", "Dict", "Mapping")):
        parser.add_argument(flag, dest=dest, type=_mapping, default=None, metavar="YAML", help=help)
    elif base in ("int", "float"):
        parser.add_argument(flag, dest=dest, type=_number(int if base == "int" else float), default=None,
                            metavar=metavar, help=help)
    elif base == "str":
        parser.add_argument(flag, dest=dest, default=None, metavar=metavar, help=help)
    else:
        parser.add_argument(flag, dest=dest, type=_parse_value, default=None, metavar=metavar,
                            help=help + " (YAML)")


# ---------------------------------------------------------------------------------------------------- train

#: help of every TrainConfig field that is a flag (a field's metadata "help" wins where it has one)
TRAIN_HELP = {
    "dataset": "registered dataset",
    "objective": "registered objective",
    "seed": "run seed: initial weights, noise, batches",
    "dataset_entry": "the benchmark's name for the dataset (run identity); default: --dataset",
    "objective_entry": "the benchmark's name for the objective (run identity); default: --objective",
    "model": "registered model; default: the dataset's ('toy' for 2-D points, 'dcgan' for images)",
    "steps": "generator iterations",
    "batch_size": "batch size",
    "checkpoint_steps": "generator iterations to checkpoint at (the last step is always added)",
    "log_every": "generator iterations between metrics.csv rows",
    "resume_every": "generator iterations between rolling last.pt checkpoints (0: off)",
    "data_root": "folder of the raw dataset files",
    "prepared_data": "the DAG's prepared dataset file (default: decode the raw files)",
    "dataset_options": "the dataset's own options as a YAML mapping, e.g. '{image_size: 32}'",
    "z_dim": "latent dimension (default: the model's)",
    "width": "model width (default: the model's)",
    "critic_norm": "normalisation layers of the critic (none, batch, layer, ...)",
    "device": "auto (CUDA when present, else CPU), cpu, cuda, cuda:N",
    "deterministic": "deterministic algorithms (slower on GPU)",
    "tf32": "TF32 matmuls on Ampere+ GPUs",
    "bf16": "bfloat16 autocast",
    "compile": "torch.compile the models",
}
#: TrainConfig fields that are not one flag each: the objective's hyper-parameters have a flag per key
_NOT_FLAGS = ("hyperparameters",)
_HP = "hp:"  # namespace prefix of hyper-parameter flags (so they never collide with TrainConfig fields)


def _train_fields() -> list[dataclasses.Field]:
    from .config import TrainConfig

    return [f for f in dataclasses.fields(TrainConfig) if f.name not in _NOT_FLAGS]


def _add_train_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, and one per hyper-parameter any registered objective declares."""
    from .config import TrainConfig
    from .objectives import OBJECTIVES, hyperparameter_fields

    hints = typing.get_type_hints(TrainConfig)
    names = set()
    for f in _train_fields():
        names.add(f.name)
        help = f.metadata.get("help") or TRAIN_HELP.get(f.name)
        if help is not None and f.default is not dataclasses.MISSING and f.default is not None:
            help += f" (default: {f.default!r})"
        kind = hints[f.name]
        text = kind if isinstance(kind, str) else re.sub(r"typing\.|<class '(\w+)'>", r"\1", str(kind))
        _add_typed(parser, "--" + f.name.replace("_", "-"), f.name, text, help)

    group = parser.add_argument_group("objective hyper-parameters (unset: the paper's default of the objective)")
    for name, entry in sorted(hyperparameter_fields().items()):
        if name in names:  # a plugin's hyper-parameter named like a setting: only via --config's hyperparameters
            continue
        defaults: dict[str, list[str]] = {}
        for objective in entry["objectives"]:
            default = next((f.default for f in dataclasses.fields(OBJECTIVES[objective]) if f.name == name), None)
            defaults.setdefault(repr(list(default) if isinstance(default, tuple) else default), []).append(objective)
        where = "; ".join(f"{', '.join(objs)}: {d}" for d, objs in defaults.items())
        _add_typed(group, "--" + name.replace("_", "-"), _HP + name, entry["type"],
                   f"{entry['help'] or name} [objectives {where}]")


def _train_config(args: argparse.Namespace):
    from .config import ConfigError, config_from_dict

    values: dict[str, Any] = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise FileNotFoundError(f"--config {args.config}: no such file")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"--config {args.config}: not valid YAML ({str(err).splitlines()[0]})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config {args.config}: expected a mapping of training settings")
        values.update(loaded)
    for f in _train_fields():
        value = getattr(args, f.name)
        if value is not None:
            values[f.name] = value
    hyperparameters = dict(values.get("hyperparameters") or {})
    for dest, value in vars(args).items():
        if dest.startswith(_HP) and value is not None:
            hyperparameters[dest[len(_HP):]] = value
    if hyperparameters:
        values["hyperparameters"] = hyperparameters
    return config_from_dict(values)  # gan.config.resolve (in train) validates every value, naming the key


def cmd_train(args: argparse.Namespace) -> int:
    from .config import resolve
    from .layout import ONE_OFF, Layout, results_root
    from .runs import settings_hash
    from .schema import default
    from .training import Preempted, train

    cfg = _train_config(args)
    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:  # apart from every benchmark's results; other settings never resume it
        layout = Layout(results_root(default("results_dir"), ONE_OFF))
        run_dir = Path(layout.one_off_run(cfg.dataset_name, cfg.objective_name, cfg.seed,
                                          settings_hash(resolve(cfg).to_dict())))
        print(f"run folder: {run_dir}", file=sys.stderr)
    try:
        summary = train(cfg, run_dir)
    except Preempted as err:
        log.warning("%s", err)
        return Preempted.exit_code
    print(json.dumps({k: summary[k] for k in ("status", "steps_done", "diverged_step", "wall_clock_s")}))
    return 0  # a diverged run is a result, not a failure: a benchmark of many runs carries on


# --------------------------------------------------------------------------------------------- other runs

def cmd_sample(args: argparse.Namespace) -> int:
    from .layout import RunFiles
    from .sampling import sample_checkpoint, sample_run

    files = RunFiles(args.run_dir)
    if args.steps:  # one process for every checkpoint, as the DAG's sample job
        index = sample_run(args.run_dir, args.steps, args.n, args.seed, args.out or files.samples_index,
                           batch_size=args.batch_size, device=args.device)
        print(json.dumps({"out": str(args.out or files.samples_index), "reused_steps": index["reused_steps"],
                          "status": {k: v["status"] for k, v in index["steps"].items()}}))
        return 0
    out = Path(args.out) if args.out else files.samples(args.step)
    picture = Path(args.png) if args.png else (out.with_suffix(".png") if args.out else files.picture(args.step))
    result = sample_checkpoint(args.run_dir, args.step, args.n, args.seed, out, picture,
                               batch_size=args.batch_size, device=args.device)
    print(json.dumps({**result, "out": str(out), "picture": str(picture)}))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.dag:
        from .bench import bench_dag, format_dag

        row = bench_dag(args.dag, repeats=args.repeats)
        print(format_dag(row))
        if args.json:
            from . import atomic
            atomic.write_json(args.json, row)
        return 0
    from .bench import format_eval, format_table, run_bench, run_eval_bench, run_fd_bench

    parts = set(args.parts)
    unknown = parts - {"train", "eval", "fd"}
    if unknown:
        raise UserError(f"--parts {', '.join(sorted(unknown))}: valid parts are train, eval, fd")
    if "eval" in parts and not args.inception_weights:
        raise UserError("--parts eval needs --inception-weights (the real file, or the test stand-in: "
                        "python tests/inception_standin.py DEST)")
    report: dict = {}
    if "train" in parts:
        report["train"] = run_bench(args.dataset, args.model, args.objectives, steps=args.steps,
                                    warmup=args.warmup, batch_size=args.batch_size, device=args.device,
                                    num_workers=args.num_workers, compare_dataloader=not args.no_dataloader,
                                    compile=args.compile, tf32=args.tf32, bf16=args.bf16)
        print(format_table(report["train"]))
    if "eval" in parts:
        report["eval"] = run_eval_bench(args.inception_weights, "digits" if args.dataset.endswith("-shaped")
                                        else args.dataset, n=args.eval_n, checkpoints=args.eval_checkpoints,
                                        device=args.device, metrics_n=args.fd_n, metrics_dim=args.fd_dim)
    if "fd" in parts:
        report["fd"] = run_fd_bench(n=args.fd_n, dim=args.fd_dim)
    if "eval" in parts or "fd" in parts:
        print(format_eval(report.get("eval"), report.get("fd")))
    if args.json:
        from . import atomic
        atomic.write_json(args.json, report if len(report) > 1 else next(iter(report.values())))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .datasets import prepare

    files = prepare(args.dataset, args.data_root)
    print(f"{args.dataset}: {len(files)} files verified under {Path(args.data_root) / args.dataset}")
    return 0


# ------------------------------------------------------------------------------------------------- scoring

def _metric_options(pairs: list[str] | None) -> dict:
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--metric-option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = _parse_value(value)
    return options


def cmd_reference(args: argparse.Namespace) -> int:
    from .metrics import compute_reference

    path = compute_reference(args.dataset, args.extractor, args.out, data_root=args.data_root, split=args.split,
                             mode=args.mode, n_real=args.n_real, weights_path=args.weights, device=args.device,
                             batch_size=args.batch_size, num_workers=args.num_workers, seed=args.seed,
                             overwrite=args.overwrite, dataset_options=args.dataset_options or {},
                             results_dir=args.results_dir)
    print(path)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .metrics import Scorer, score_run

    scorer = Scorer(args.reference, weights_path=args.weights, device=args.device, batch_size=args.batch_size,
                    num_workers=args.num_workers, metrics=args.metrics)
    kwargs = dict(seed=args.seed, options=_metric_options(args.metric_option), dataset=args.dataset,
                  objective=args.objective, run_seed=args.run_seed)
    if args.samples_index:  # every checkpoint of a run, the reference and network loaded once, as the DAG's job
        index = score_run(args.samples_index, {"reference": scorer}, args.out, **kwargs)
        print(json.dumps({"reused_steps": index["reused_steps"],
                          "status": {k: v["status"] for k, v in index["steps"].items()}}))
        return 0
    if not args.out:
        raise UserError("score --samples needs --out (the scores JSON)")
    result = scorer.score(args.samples, args.out, step=args.step, **kwargs)
    print(json.dumps({"status": result["status"], "reason": result["reason"], **result["metrics"]}))
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from .layout import Layout
    from .metrics.classifier import train_classifier

    out = args.out or Layout(args.results_dir).classifier(args.dataset)
    record = train_classifier(args.dataset, out, data_root=args.data_root, epochs=args.epochs,
                              holdout=args.holdout, seed=args.seed,
                              device=args.device, batch_size=args.batch_size, num_threads=args.threads,
                              dataset_options=args.dataset_options or {})
    print(json.dumps({"out": str(out), "test_accuracy": record["test_accuracy"], "time_s": record["time_s"]}))
    return 0


def cmd_fetch_weights(args: argparse.Namespace) -> int:
    from .metrics.weights import fetch_weights

    try:
        print(fetch_weights(args.extractor, args.dest))
    except RuntimeError as err:  # no network / not the TorchScript file: the message says what to do
        raise UserError(str(err)) from err
    return 0


# -------------------------------------------------------------------------------------------------- parser

def _device_flags(p: argparse.ArgumentParser, batch_size: int, workers: bool = True) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=_number(int), default=batch_size, help=f"batch size (default {batch_size})")
    if workers:
        p.add_argument("--num-workers", type=_number(int), default=0,
                       help="DataLoader workers for clean-fid's resizing (default 0: in the main process)")


def _add_run_parsers(sub) -> None:
    from .datasets import DATASETS
    from .objectives import OBJECTIVES

    p = sub.add_parser("train", help="train one run (resumes from the latest checkpoint in --run-dir)",
                       description=f"Objectives: {', '.join(sorted(OBJECTIVES))}. Datasets: "
                                   f"{', '.join(sorted(DATASETS))}. Every training setting and every objective "
                                   "hyper-parameter is a flag; flags override --config.")
    p.add_argument("--config", help="YAML file of training settings (TrainConfig keys; flags override it)")
    p.add_argument("--run-dir", help="default: results/one-off/{dataset}/{objective}/seed{seed}-{settings hash} "
                   "(apart from every benchmark's results; the same settings resume it)")
    _add_train_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="generate N samples of a checkpoint (deterministic for --seed)")
    p.add_argument("--run-dir", required=True, help="the run folder (results/{experiment}/runs/{dataset}/{objective}/seed{seed})")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--step", type=_number(int), help="checkpoint step (generator iterations)")
    which.add_argument("--steps", action=ListAction, element=_number(int), metavar="N",
                       help="every checkpoint step of the run, in one process (writes the samples index, as the "
                            "DAG's sample job; a retry keeps the steps it finished)")
    samples = schema.default("datasets", "*", "samples")
    p.add_argument("--n", type=_number(int), default=samples, help=f"number of samples (default {samples})")
    p.add_argument("--seed", type=_number(int), default=0, help="noise seed (default 0)")
    p.add_argument("--out", help="samples npz (default: RUN_DIR/samples/stepNNNNNNN.npz); with --steps the index "
                                 "(default: RUN_DIR/samples/index.json)")
    p.add_argument("--png", help="picture of the samples (default: beside --out)")
    _device_flags(p, 1000, workers=False)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("bench", help="generator iterations/s per objective: in-memory batches vs a DataLoader")
    p.add_argument("--dataset", default="digits", help="a dataset name, or e.g. 'mnist-shaped' for random data")
    p.add_argument("--model", default=None, help="registered model (default: the dataset's)")
    p.add_argument("--objectives", action=ListAction, default=["gan", "wgan", "wgan-gp"],
                   help="objectives to time ('gan wgan' or 'gan,wgan'; default gan, wgan, wgan-gp)")
    p.add_argument("--steps", type=_number(int), default=50, help="timed generator iterations (default 50)")
    p.add_argument("--warmup", type=_number(int), default=5, help="untimed generator iterations first (default 5)")
    _device_flags(p, 64, workers=False)
    p.add_argument("--num-workers", type=_number(int), default=0, help="DataLoader workers of the comparison loop")
    p.add_argument("--no-dataloader", action="store_true", help="skip the DataLoader comparison")
    p.add_argument("--compile", action="store_true", help="torch.compile the models")
    p.add_argument("--tf32", action="store_true", help="TF32 matmuls on Ampere+ GPUs")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    p.add_argument("--parts", action=ListAction, default=["train"],
                   help="what to time: train (the training loop; default), eval (evaluation seconds per "
                        "checkpoint, a process per checkpoint vs per run), fd (the Fréchet distance alone, "
                        "2048-d), e.g. 'train,eval,fd'")
    p.add_argument("--inception-weights", help="eval: Inception TorchScript file (the real one, or the test "
                                               "stand-in: python tests/inception_standin.py DEST)")
    p.add_argument("--eval-n", type=_number(int), default=1000, help="eval: samples per checkpoint (default 1000)")
    p.add_argument("--eval-checkpoints", type=_number(int), default=4, help="eval: checkpoints (default 4)")
    p.add_argument("--fd-n", type=_number(int), default=10_000,
                   help="fd, and eval's metrics alone (FD, IS, P/R/D/C): features per side (default 10000)")
    p.add_argument("--fd-dim", type=_number(int), default=2048, help="fd and eval's metrics alone: feature "
                                                                     "dimension (default 2048, Inception's pool)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--dag", metavar="CONFIG",
                   help="instead: time `snakemake -n --configfile CONFIG --replace-workflow-config` here (the DAG "
                        "build of that complete config; wall and CPU)")
    p.add_argument("--repeats", type=_number(int), default=3, help="--dag: runs, the median is reported (default 3)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("prepare", help="download and verify a dataset once (needs network for torchvision sets)")
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="registered dataset")
    p.add_argument("--data-root", default="resources/data", help="download folder (default resources/data)")
    p.set_defaults(func=cmd_prepare)


def _extractor_help(describe) -> str:
    from .metrics import EXTRACTORS

    return "; ".join(f"{name}: {describe(cls)}" for name, cls in EXTRACTORS.items())


def _weights_help(cls) -> str:
    from .metrics import Trained

    if cls.weights is None:
        return "none"
    if isinstance(cls.weights, Trained):
        return f"required (rule {cls.weights.rule})"
    return f"default {cls.weights.default_path()}"


def _add_scoring_parsers(sub) -> None:
    from .metrics import EXTRACTORS

    p = sub.add_parser(
        "reference", help="real-data statistics of one dataset/split/extractor (computed once)",
        description="Write results/reference/{dataset}/<name encoding every parameter>.npz (or --out): the arrays "
                    "the metrics of the extractor's feature space declare (features, mean/covariance of real "
                    "images), or a seeded sample of real points (toy data, extractor points). Refuses to overwrite.")
    p.add_argument("--dataset", required=True, help="registered dataset")
    p.add_argument("--extractor", choices=sorted(EXTRACTORS),
                   help="default: the dataset's (points for toy data, inception for images)")
    p.add_argument("--out", help="output npz (default: results/reference/{dataset}/<name encoding every parameter>)")
    p.add_argument("--results-dir", default="results", help="root of the default output path")
    p.add_argument("--data-root", default="resources/data", help="folder of the raw dataset files")
    p.add_argument("--split", default="train", choices=["train", "test"], help="dataset split (default train)")
    p.add_argument("--mode", help=_extractor_help(lambda cls: " | ".join(
        f"{m} (default)" if m == cls.default_mode() else m for m in cls.modes)))
    p.add_argument("--n-real", type=_number(int), help="images: default all of the split (fewer: seeded subset); "
                                                       "points: default 10000")
    p.add_argument("--weights", help=_extractor_help(_weights_help))
    p.add_argument("--seed", type=_number(int), default=0, help="seed of the real subset / toy sample (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing reference file")
    p.add_argument("--dataset-options", type=_mapping, metavar="YAML",
                   help="YAML mapping of dataset options, e.g. '{path: imgs, channels: 3}'")
    _device_flags(p, 64)
    p.set_defaults(func=cmd_reference)

    p = sub.add_parser(
        "score", help="score a samples npz against a reference (writes the scores JSON)",
        description="Compute every metric registered for the reference's extractor and write the scores JSON of "
                    "docs/CONTRACTS.md. Samples marked missing give status missing and no values. Never downloads "
                    "anything.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--samples", help="samples/step{step:07d}.npz")
    which.add_argument("--samples-index", help="a run's samples/index.json (`sample --steps`): score every "
                                               "checkpoint in one process into the run's scores/, as the DAG's "
                                               "score job")
    p.add_argument("--reference", required=True, help="reference npz written by `reference`")
    p.add_argument("--out", help="scores/step{step:07d}.json (required with --samples); with --samples-index the "
                                 "index (default: RUN_DIR/scores/index.json)")
    p.add_argument("--weights", help="extractor weights (default: the path recorded in the reference)")
    p.add_argument("--seed", type=_number(int), default=0, help="seed of KID subsets and W1 subsampling (default 0)")
    p.add_argument("--metrics", action=ListAction, help="subset of metrics ('fid kid' or 'fid,kid'; default: all "
                                                        "that apply)")
    p.add_argument("--metric-option", action="append", metavar="KEY=VALUE",
                   help="e.g. w1_max_points=3000, mode_min_share=0.2, class_min_share=0.2, "
                        "class_min_confidence=0.9 (repeatable)")
    p.add_argument("--dataset", help="default: from the samples npz or the reference")
    p.add_argument("--objective", help="default: from the samples npz")
    p.add_argument("--run-seed", type=_number(int), help="default: the samples npz's seed")
    p.add_argument("--step", type=_number(int), help="default: the samples npz's step")
    _device_flags(p, 64)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "train-classifier", help="train the small CNN feature extractor of a labelled image dataset",
        description="Train gan.metrics.cnn.SmallCNN on the train split, test it on the test split, save the "
                    "checkpoint atomically and a JSON beside it with the test accuracy.")
    p.add_argument("--dataset", required=True, help="registered labelled image dataset")
    p.add_argument("--out", help="checkpoint path (default: the DAG's, RESULTS_DIR/reference/{dataset}/classifier.pt)")
    p.add_argument("--results-dir", default="results", help="root of the default output path")
    p.add_argument("--data-root", default="resources/data", help="folder of the raw dataset files")
    epochs = schema.default("scoring", "classifier_epochs")
    p.add_argument("--epochs", type=_number(int), default=epochs, help=f"training epochs (default {epochs})")
    holdout = schema.default("scoring", "classifier_holdout")
    p.add_argument("--holdout", type=_number(float), default=holdout,
                   help=f"share of the train split never trained on, for floors from unseen images (default {holdout})")
    p.add_argument("--seed", type=_number(int), default=0, help="training seed (default 0)")
    _device_flags(p, 128, workers=False)
    p.add_argument("--threads", type=_number(int), help="CPU threads for torch while training (default: torch's "
                                                        "setting; 1 is fastest for digits on a busy machine)")
    p.add_argument("--dataset-options", type=_mapping, metavar="YAML", help="YAML mapping of dataset options")
    p.set_defaults(func=cmd_train_classifier)

    from .metrics import Download

    downloaded = {name: cls for name, cls in EXTRACTORS.items() if isinstance(cls.weights, Download)}
    p = sub.add_parser(
        "fetch-weights", help="download a feature extractor's weights once (needs network)",
        description="Download the extractor's weights file to --dest atomically (checked: pinned sha256, the "
                    "extractor's own check); kept if present. Score jobs only read this file.")
    p.add_argument("--extractor", required=True, choices=sorted(downloaded), help="registered extractor")
    p.add_argument("--dest", help="; ".join(f"{n}: default {c.weights.default_path()}" for n, c in downloaded.items()))
    p.set_defaults(func=cmd_fetch_weights)


def _plugin_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE",
                        help="Python file of registrations (objectives, datasets, models, extractors, metrics) "
                             "loaded before the command; repeatable, anywhere on the line")


def build_parser() -> argparse.ArgumentParser:
    """The full parser; flags are read from the registries, so load plugins (`--plugin`) before calling it."""
    parser = Parser(prog="python -m gan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    _plugin_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="`python -m gan COMMAND --help` for its flags")
    _add_run_parsers(sub)
    _add_scoring_parsers(sub)
    from . import status, tracking

    tracking.add_parser(sub)
    status.add_parser(sub)
    return parser


def _split_plugins(argv: list[str]) -> tuple[list[str], list[str]]:
    """(plugin files, the other arguments): `--plugin F` / `--plugin=F` anywhere on the line."""
    pre = Parser(prog="python -m gan", add_help=False, allow_abbrev=False)
    _plugin_flag(pre)
    known, rest = pre.parse_known_args(argv)
    return known.plugin, rest


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    user_errors = _user_errors()
    try:
        plugins, argv = _split_plugins(argv)
        if plugins:
            from .plugins import load_plugins
            load_plugins(plugins)
        args = build_parser().parse_args(argv)
    except user_errors as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        return args.func(args) or 0
    except user_errors as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
