"""Subcommands of `python -m gan` for scoring: reference, score, train-classifier, fetch-inception.

`add_parsers(subparsers)` registers them on the main parser's subparsers; each sets `func(args) -> int`, which
calls one entry point. `python -m gan.metrics.cli ...` runs them on their own.
"""
from __future__ import annotations

import argparse
import json
import sys

import yaml


def _options(pairs: list[str] | None) -> dict:
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"metric option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options


def _dataset_options(text: str | None) -> dict:
    if not text:
        return {}
    value = yaml.safe_load(text)
    if not isinstance(value, dict):
        raise ValueError("--dataset-options expects a YAML/JSON mapping, e.g. '{path: imgs, image_size: 32}'")
    return value


def cmd_reference(args: argparse.Namespace) -> int:
    from gan.metrics import compute_reference

    path = compute_reference(args.dataset, args.extractor, args.out, data_root=args.data_root, split=args.split,
                             mode=args.mode, n_real=args.n_real, weights_path=args.weights, device=args.device,
                             batch_size=args.batch_size, num_workers=args.num_workers, seed=args.seed,
                             overwrite=args.overwrite, dataset_options=_dataset_options(args.dataset_options),
                             results_dir=args.results_dir)
    print(path)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from gan.metrics import score_samples

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    result = score_samples(args.samples, args.reference, args.out, weights_path=args.weights, device=args.device,
                           batch_size=args.batch_size, num_workers=args.num_workers, seed=args.seed,
                           metrics=metrics, options=_options(args.metric_option), dataset=args.dataset,
                           objective=args.objective, run_seed=args.run_seed, step=args.step)
    print(json.dumps({"status": result["status"], "reason": result["reason"], **result["metrics"]}))
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from gan.metrics.classifier import train_classifier

    out = args.out or f"results/reference/{args.dataset}/classifier_s{args.seed}.pt"
    record = train_classifier(args.dataset, out, data_root=args.data_root, epochs=args.epochs, seed=args.seed,
                              device=args.device, batch_size=args.batch_size, num_threads=args.threads,
                              dataset_options=_dataset_options(args.dataset_options))
    print(json.dumps({"out": str(out), "test_accuracy": record["test_accuracy"], "time_s": record["time_s"]}))
    return 0


def cmd_fetch_inception(args: argparse.Namespace) -> int:
    from gan.metrics.fid import fetch_inception

    print(fetch_inception(args.dest))
    return 0


def _common(p: argparse.ArgumentParser, batch_size: int) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1 ...")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"feature batch size (default {batch_size})")
    p.add_argument("--num-workers", type=int, default=0,
                   help="DataLoader workers for clean-fid's resizing (default 0: in the main process)")


def add_parsers(subparsers) -> None:
    from gan.metrics.fid import DEFAULT_INCEPTION_PATH

    p = subparsers.add_parser(
        "reference", help="real-data statistics of one dataset/split/extractor (computed once)",
        description="Write results/reference/{dataset}/{dataset}_{extractor}_{mode}_{split}_{n}_s{seed}.npz (or "
                    "--out): features + mean/covariance of real images (extractor inception or classifier), or a "
                    "seeded sample of real points (toy data, extractor points). Refuses to overwrite.")
    p.add_argument("--dataset", required=True)
    p.add_argument("--extractor", choices=["inception", "classifier", "points"],
                   help="default: points for toy data, inception for images")
    p.add_argument("--out", help="output npz (default: results/reference/{dataset}/<name encoding every parameter>)")
    p.add_argument("--results-dir", default="results", help="root of the default output path")
    p.add_argument("--data-root", default="resources/data")
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.add_argument("--mode", help="inception: clean (default) | legacy_tensorflow; classifier: native; points: exact")
    p.add_argument("--n-real", type=int, help="images: default all of the split (fewer: seeded subset); "
                                              "points: default 10000")
    p.add_argument("--weights", help=f"inception: default {DEFAULT_INCEPTION_PATH}; classifier: required")
    p.add_argument("--seed", type=int, default=0, help="seed of the real subset / toy sample (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing reference file")
    p.add_argument("--dataset-options", help="YAML mapping of dataset options, e.g. '{path: imgs, channels: 3}'")
    _common(p, 64)
    p.set_defaults(func=cmd_reference)

    p = subparsers.add_parser(
        "score", help="score a samples npz against a reference (writes the scores JSON)",
        description="Compute every metric registered for the reference's extractor (fid, kid | fd_classifier, "
                    "kid_classifier, classes | w1, modes) and write the scores JSON of docs/CONTRACTS.md. Samples "
                    "marked missing give status missing and no values. Never downloads anything.")
    p.add_argument("--samples", required=True, help="samples/step{step:07d}.npz")
    p.add_argument("--reference", required=True, help="reference npz written by `reference`")
    p.add_argument("--out", required=True, help="scores/step{step:07d}.json")
    p.add_argument("--weights", help="extractor weights (default: the path recorded in the reference)")
    p.add_argument("--seed", type=int, default=0, help="seed of KID subsets and W1 subsampling (default 0)")
    p.add_argument("--metrics", help="comma-separated subset of metrics (default: all that apply)")
    p.add_argument("--metric-option", action="append", metavar="KEY=VALUE",
                   help="e.g. w1_max_points=3000, mode_min_share=0.2, class_min_share=0.2, "
                        "class_min_confidence=0.9 (repeatable)")
    p.add_argument("--dataset", help="default: from the path runs/{dataset}/{objective}/seed{seed}/... or reference")
    p.add_argument("--objective", help="default: from the samples path")
    p.add_argument("--run-seed", type=int, help="default: the samples npz's seed")
    p.add_argument("--step", type=int, help="default: the samples npz's step")
    _common(p, 64)
    p.set_defaults(func=cmd_score)

    p = subparsers.add_parser(
        "train-classifier", help="train the small CNN feature extractor of a labelled image dataset",
        description="Train gan.metrics.classifier.SmallCNN on the train split, test it on the test split, save the "
                    "checkpoint atomically and a JSON beside it with the test accuracy.")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", help="checkpoint path (default results/reference/{dataset}/classifier_s{seed}.pt)")
    p.add_argument("--data-root", default="resources/data")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, help="CPU threads for torch while training (default: torch's setting; "
                                                "1 is fastest for digits on a busy machine)")
    p.add_argument("--dataset-options", help="YAML mapping of dataset options")
    p.set_defaults(func=cmd_train_classifier)

    p = subparsers.add_parser(
        "fetch-inception", help="download clean-fid's Inception weights once (needs network)",
        description="Download clean-fid's inception-2015-12-05.pt to --dest atomically; kept if present. Score "
                    "jobs only read this file.")
    p.add_argument("--dest", default=str(DEFAULT_INCEPTION_PATH), help=f"default {DEFAULT_INCEPTION_PATH}")
    p.set_defaults(func=cmd_fetch_inception)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.metrics.cli", description=__doc__)
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["add_parsers", "main"]
