"""`python -m gan <command>`: the same functions the Snakemake rules call, usable without Snakemake."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import typing
from pathlib import Path

import yaml

from .checkpoint import CheckpointError
from .config import ConfigError, TrainConfig, config_from_dict
from .datasets import DATASETS, DatasetNotFound
from .objectives import OBJECTIVES

log = logging.getLogger("gan")

# errors a user can fix; printed as one line, exit status 2, before any training starts
USER_ERRORS = (ConfigError, CheckpointError, DatasetNotFound, ValueError, FileNotFoundError)


def _parse_value(text: str):
    # YAML 1.1 reads '1e-4' as a string, so numbers are tried first
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (--lr, --n-critic, ...); lists and dicts are given as YAML."""
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if hints[f.name] is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        parser.add_argument(flag, type=_parse_value, default=None, metavar=f.name.upper(),
                            help=f"default: {default!r}" if default is not None else None)


def _train_config(args: argparse.Namespace) -> TrainConfig:
    values = {}
    if args.config:
        loaded = yaml.safe_load(Path(args.config).read_text())
        if not isinstance(loaded, dict):
            raise ConfigError(f"{args.config}: expected a mapping of training settings")
        values.update(loaded)
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f.name)
        if value is not None:
            values[f.name] = value
    return config_from_dict(values)


def cmd_train(args: argparse.Namespace) -> int:
    from .training import Preempted, train

    cfg = _train_config(args)
    run_dir = Path(args.run_dir or f"results/runs/{cfg.dataset}/{cfg.objective}/seed{cfg.seed}")
    try:
        summary = train(cfg, run_dir)
    except Preempted as err:
        log.warning("%s", err)
        return Preempted.exit_code
    print(json.dumps({k: summary[k] for k in ("status", "steps_done", "diverged_step", "wall_clock_s")}))
    return 0  # a diverged run is a result, not a failure: a benchmark of many runs carries on


def cmd_sample(args: argparse.Namespace) -> int:
    from .sampling import sample_checkpoint

    out = Path(args.out or Path(args.run_dir) / "samples" / f"step{args.step:07d}.npz")
    picture = args.png or out.with_suffix(".png")
    result = sample_checkpoint(args.run_dir, args.step, args.n, args.seed, out, picture,
                               batch_size=args.batch_size, device=args.device)
    print(json.dumps({**result, "out": str(out), "picture": str(picture)}))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import format_table, run_bench

    rows = run_bench(args.dataset, args.model, args.objectives, steps=args.steps, warmup=args.warmup,
                     batch_size=args.batch_size, device=args.device, num_workers=args.num_workers,
                     compare_dataloader=not args.no_dataloader, compile=args.compile, tf32=args.tf32,
                     bf16=args.bf16)
    print(format_table(rows))
    if args.json:
        from . import io
        io.write_json(args.json, rows)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .datasets import prepare

    files = prepare(args.dataset, args.data_root)
    print(f"{args.dataset}: {len(files)} files verified under {Path(args.data_root) / args.dataset}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gan", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one run (resumes from the latest checkpoint in --run-dir)",
                       description=f"Objectives: {', '.join(sorted(OBJECTIVES))}. Datasets: {', '.join(sorted(DATASETS))}."
                                   " Every TrainConfig field is a flag; YAML values for lists/dicts.")
    p.add_argument("--config", help="YAML file of training settings (flags override it)")
    p.add_argument("--run-dir", help="default: results/runs/{dataset}/{objective}/seed{seed}")
    _add_config_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="generate N samples of a checkpoint (deterministic for --seed)")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--step", type=int, required=True, help="checkpoint step (generator iterations)")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="default: RUN_DIR/samples/stepNNNNNNN.npz")
    p.add_argument("--png", help="default: beside --out")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("bench", help="generator iterations/s per objective: in-memory batches vs a DataLoader")
    p.add_argument("--dataset", default="digits", help="a dataset name, or e.g. 'mnist-shaped' for random data")
    p.add_argument("--model", default=None)
    p.add_argument("--objectives", nargs="+", default=["gan", "wgan", "wgan-gp"])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers of the comparison loop")
    p.add_argument("--no-dataloader", action="store_true", help="skip the DataLoader comparison")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--tf32", action="store_true")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("prepare", help="download and verify a dataset once (needs network for torchvision sets)")
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--data-root", default="resources/data")
    p.set_defaults(func=cmd_prepare)

    for module in ("gan.metrics.cli", "gan.tracking"):
        try:
            mod = __import__(module, fromlist=["add_parsers"])
        except ImportError:
            continue
        add = getattr(mod, "add_parsers", None) or getattr(mod, "add_parser", None)
        if add is not None:
            add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        return args.func(args) or 0
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
