"""A dataset's own classifier as a fast feature space (CPU-friendly): its `embedding` (where the Fréchet distance
and KID of gan.metrics.feature_distances give `fd_classifier`, `kid_classifier`), its `logits` (how many classes
the generated samples fall into) and, for stacked digits, its `channel_logits`.

The classifier is a small CNN trained on the dataset's labelled training split (`train_classifier`, seconds for
`digits`), saved atomically with its test accuracy (in the checkpoint and in a JSON file beside it).

It plugs into clean-fid the way clean-fid's own `custom_feat_extractor` / `custom_fn_resize` hooks do: the
feature function takes a batch in [0, 255] (N, C, H, W); the resize step is the identity (native resolution, the
channels the classifier was trained on). clean-fid's `compute_fid(custom_feat_extractor=...)` itself only reads
folders and generators, so the in-memory path of `gan.metrics.image_features` is used instead.

Class metrics, the analogue of the toy modes_covered / high_quality (gan.metrics.toy):
- confident_fraction: share of samples the classifier assigns to some class with probability >=
  `class_min_confidence` (default 0.9), the analogue of "within 3 std of some centre".
- classes_covered: classes with at least `class_min_share` (default 0.2) of the uniform share n_gen / num_classes
  of the samples confidently predicted as that class (this benchmark's share rule, stricter than the literature's
  one-sample count, as for the toy modes; for 10 classes and n_gen = 10,000: >= 200 confident samples). Without the confidence filter the count means little: the digits
  classifier spreads uniform noise over all 10 classes by argmax (36 +- 25 of 360 per class, measured), so noise
  would "cover" 10 classes; with it, noise covers a few and real test digits all 10.
- class_entropy: entropy (nats) of the argmax histogram of all samples; log(num_classes) when balanced.

Stacked digits (a dataset whose registration gives labels per channel, `DatasetSpec.channel_labels`): the
classifier is trained on the channels as single digits and applied per channel; the mode of a sample is the
triple of its channels' predicted digits (1,000 modes). As the Unrolled GAN / VEEGAN / PacGAN papers report, but
counted among confidently classified stacks only (every channel's top probability >= `stacked_min_confidence`,
0.99 by default): without the filter the argmax of a noise image or of a blend of two digits is still some digit,
so uniform noise "covered" 970 of 1,000 modes at N = 10,000 and beat a generator of 10 perfect modes on count and
KL. Measured with the digits classifier (20 epochs, test accuracy 0.962) at N = 10,000 (real test stacks / uniform
noise / blends of two real stacks / 10 perfect modes): with 0.99, modes 1000 / 405 / 790 / 13 and confident
fraction 0.92 / 0.07 / 0.19 / 0.91; with 0.9 (the single-digit `classes_covered` threshold), modes 1000 / 801 / 950
/ 18. The small CNN is confident on some noise, so the mode count alone still flatters garbage at large N: read it
beside `stacked_confident`.
- stacked_modes: modes with at least one confidently classified stack;
- stacked_kl: KL(histogram of the confident stacks' modes || uniform over the 1,000), in nats (NaN when none is
  confident);
- stacked_confident: the fraction of stacks that are confidently classified (read the two above beside it).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from gan import atomic
from gan.layout import Layout
from gan.metrics.distances import kl_to_uniform
from gan.metrics.reference import sha256_file
from gan.metrics.registry import Extractor, Feature, Output, Trained, register_extractor, register_metric

if TYPE_CHECKING:  # torch is imported where a classifier trains or runs: the registrations import without it
    import torch
    from torch import nn

    from gan.metrics.cnn import SmallCNN


def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device, batch_size: int = 512) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            pred = model(images[i:i + batch_size].to(device)).argmax(1).cpu()
            correct += int((pred == labels[i:i + batch_size]).sum())
    return correct / len(images)


def heldout_indices(n_train: int, holdout: float, seed: int) -> np.ndarray:
    """The train-split indices the classifier never trains on: a seeded subset of round(holdout * n_train)."""
    k = int(round(holdout * n_train))
    return np.sort(np.random.default_rng([seed, 20260]).permutation(n_train)[:k])


def train_classifier(dataset: str, out_path: str | Path, *, epochs: int, holdout: float,
                     data_root: str | Path = "resources/data", seed: int = 0, device: str = "auto",
                     batch_size: int = 128, lr: float = 2e-3, width: int = 16, feat_dim: int = 64,
                     dataset_options: dict | None = None, num_threads: int | None = None,
                     prepared: str | Path | None = None) -> dict:
    """Train the SmallCNN on `dataset`'s train split less a held-out share (`holdout`, recorded as
    `heldout_train_indices`: real-vs-real floors in this space draw only from images it never saw), test it on the
    test split, save it atomically.

    Writes `out_path` (torch checkpoint: state_dict, architecture, accuracy, seed) and `out_path` with suffix
    .json (the same record, readable). Returns the record. Seeded: same seed, same device -> same weights.
    `num_threads`: CPU threads for torch during training (None: torch's setting). This CNN's ops are tiny: on a
    busy machine one thread is several times faster than two (measured on digits).
    """
    import torch

    from gan.datasets import get_dataset
    from gan.utils import package_versions, select_device

    start = time.time()
    dev = select_device(device)
    dataset_options = dict(dataset_options or {})
    from gan.datasets import dataset_spec

    train = get_dataset(dataset, data_root=data_root, split="train", prepared=prepared, **dataset_options)
    test = get_dataset(dataset, data_root=data_root, split="test", prepared=prepared, **dataset_options)
    heldout = heldout_indices(len(train), holdout, seed)
    keep = np.setdiff1d(np.arange(len(train)), heldout)
    train = dataclasses.replace(train, images=train.images[keep], labels=train.labels[keep])
    spec = dataset_spec(dataset, **dataset_options)
    per_channel = spec.channel_labels(train.labels) is not None
    input_shape = list(train.shape)
    if per_channel:  # each channel is a labelled single-channel sample (stacked digits)
        train, test = (_unstack(ds, spec) for ds in (train, test))
    if train.kind != "images" or train.labels is None or not train.num_classes:
        raise ValueError(f"dataset {dataset!r} has no labelled images: a classifier cannot be trained on it")
    threads_before = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    try:
        model, record = _train(train, test, dev, epochs, seed, batch_size, lr, width, feat_dim)
    finally:
        torch.set_num_threads(threads_before)
    record.update({"holdout": holdout, "heldout_train_indices": heldout.tolist(),
                   "dataset": dataset, "dataset_options": dataset_options, "device": str(dev),
                   "per_channel": per_channel, "input_shape": input_shape,
                   "time_s": round(time.time() - start, 3), "versions": package_versions(("torch", "numpy"))})
    out_path = Path(out_path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # wall-clock seconds stay out of the weights file: same seed, same device -> the same bytes (and weights_sha256,
    # which every score file records)
    atomic.torch_save({"state_dict": state, **{k: v for k, v in record.items() if k not in ("versions", "time_s")}},
                      out_path)
    atomic.write_json(out_path.with_suffix(".json"), {**record, "weights_path": str(out_path),
                                                  "weights_sha256": sha256_file(out_path)})
    return record


def _unstack(ds, spec):
    """The channels of a stacked set as single-channel labelled images (N*C, 1, H, W)."""
    from gan.datasets import Dataset

    labels = spec.channel_labels(ds.labels).reshape(-1)
    images = ds.images.reshape(-1, 1, *ds.shape[1:])
    return Dataset(name=ds.name, kind="images", shape=(1, *ds.shape[1:]), images=images, labels=labels,
                   num_classes=int(labels.max()) + 1)


def _train(train, test, dev, epochs: int, seed: int, batch_size: int, lr: float, width: int, feat_dim: int):
    import torch
    from torch import nn

    from gan.metrics.cnn import SmallCNN

    torch.manual_seed(seed)
    arch = {"in_channels": int(train.shape[0]), "num_classes": int(train.num_classes), "width": width,
            "feat_dim": feat_dim}
    model = SmallCNN(**arch).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    images, labels = train.images, train.labels.long()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(images), generator=gen).split(batch_size):
            loss = nn.functional.cross_entropy(model(images[idx].to(dev)), labels[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    record = {"arch": arch, "image_shape": list(train.shape), "seed": seed, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "n_train": len(train), "n_test": len(test),
              "train_accuracy": _accuracy(model, images, labels, dev),
              "test_accuracy": _accuracy(model, test.images, test.labels.long(), dev)}
    return model, record


def load_classifier(path: str | Path, device: torch.device | str = "cpu") -> tuple[SmallCNN, dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier weights {path} not found; train them with `python -m gan "
                                f"train-classifier --dataset DATASET --out {path}` (Snakemake rule train_classifier)")
    import torch

    from gan.metrics.cnn import SmallCNN

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = SmallCNN(**ckpt["arch"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), {k: v for k, v in ckpt.items() if k != "state_dict"}


@register_extractor("classifier")
class ClassifierExtractor(Extractor):
    """The dataset's SmallCNN at native resolution: its embedding (feat_dim, default 64) and its logits (per
    channel for stacked digits)."""
    kind = "images"
    provides = {"embedding": Feature(None, "the classifier's embedding (stacked digits: its channels' side by side)"),
                "logits": Feature(None, "class logits (a classifier of whole samples)"),
                "channel_logits": Feature(None, "class logits of every channel (stacked digits), (N, C, classes)")}
    modes = ("native",)
    weights = Trained("train_classifier", Layout.classifier)
    gpu = True

    def __init__(self, mode: str, weights_path, device: str, batch_size: int, num_workers: int):
        from gan.utils import select_device

        if weights_path is None:
            raise ValueError("the classifier extractor needs weights_path (a checkpoint of train_classifier)")
        self.mode = mode
        self.weights_path = Path(weights_path)
        self.device = select_device(device)
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.model, self.info = load_classifier(self.weights_path, self.device)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:  # x in [0, 255], what clean-fid feature functions take
        return self.model.embed(x / 127.5 - 1.0)

    def extract(self, images: np.ndarray, wanted: set[str]) -> dict[str, np.ndarray]:
        from gan.metrics.image_features import extract_features, to_float32

        expected = self.info.get("input_shape") or self.info["image_shape"]
        if list(images.shape[1:]) != list(expected):
            raise ValueError(f"classifier {self.weights_path} takes images {tuple(expected)}, "
                             f"got {tuple(images.shape[1:])}")
        n, channels = len(images), images.shape[1]
        if self.info.get("per_channel"):  # stacked digits: classify every channel as one digit
            images = images.reshape(n * channels, 1, *images.shape[2:])
        feats = extract_features(images, self._embed, self.mode, self.device, self.batch_size, self.num_workers,
                                 fn_resize=to_float32)
        out = {"embedding": feats.reshape(n, -1)}
        logits_name = "channel_logits" if self.info.get("per_channel") else "logits"
        if logits_name in wanted:
            import torch

            with torch.no_grad():
                logits = self.model.head(torch.from_numpy(feats).to(self.device)).cpu().numpy()
            out[logits_name] = logits.reshape(n, channels, -1) if self.info.get("per_channel") else logits
        return {k: v for k, v in out.items() if k in wanted}

    def describe(self) -> dict:
        return {"weights_path": str(self.weights_path), "weights_sha256": sha256_file(self.weights_path),
                "classifier_test_accuracy": self.info.get("test_accuracy"), "device": str(self.device)}


@register_metric("stacked_modes", feature="channel_logits",
                 outputs={"stacked_modes": Output("modes covered (stacked, >=1 confident sample)", True, "count",
                                                  floor=True, rank=6),
                          "stacked_kl": Output("KL(confident stacked modes || uniform)", False, "nats", floor=True),
                          "stacked_confident": Output("confidently classified stacks", True, "fraction",
                                                      floor=True)})
def stacked_modes(ctx) -> dict[str, float]:
    """Modes of stacked digits among confidently classified stacks: the predicted digit of each channel, as a
    base-10 number (module docstring)."""
    logits = np.asarray(ctx.features, dtype=np.float64)  # (N, C, classes)
    prob = np.exp(logits - logits.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    digits, confident = prob.argmax(-1), (prob.max(-1) >= ctx.option("stacked_min_confidence", 0.99)).all(-1)
    num = logits.shape[-1]
    modes = (digits * num ** np.arange(digits.shape[1])[::-1]).sum(1)
    counts = np.bincount(modes[confident], minlength=num ** digits.shape[1])
    return {"stacked_modes": int((counts >= 1).sum()), "stacked_kl": kl_to_uniform(counts),
            "stacked_confident": float(confident.mean())}


# the dataset's own classes: only its classifier predicts them (Inception's logits are ImageNet's 1008 classes)
@register_metric("classes", feature="logits", spaces=("classifier",), outputs={
    "classes_covered": Output("classes covered", True, "count", floor=True),
    "confident_fraction": Output("confidently classified", True, "fraction", floor=True),
    "class_entropy": Output("entropy of predicted classes", True, "nats", floor=True)})
def classes(ctx) -> dict[str, float]:
    """classes_covered, confident_fraction and class_entropy of the classifier's predictions (module docstring)."""
    import torch

    logits = torch.from_numpy(np.asarray(ctx.features, dtype=np.float64))
    num_classes = logits.shape[1]
    min_share = ctx.option("class_min_share", 0.2)
    min_confidence = ctx.option("class_min_confidence", 0.9)
    prob = torch.softmax(logits, dim=1).numpy()
    pred, conf = prob.argmax(1), prob.max(1)
    n = len(pred)
    confident = np.bincount(pred[conf >= min_confidence], minlength=num_classes)
    p = np.bincount(pred, minlength=num_classes) / n
    p = p[p > 0]
    return {"classes_covered": int((confident >= min_share * n / num_classes).sum()),
            "confident_fraction": float((conf >= min_confidence).mean()),
            "class_entropy": float(-(p * np.log(p)).sum()) + 0.0}


__all__ = ["train_classifier", "load_classifier", "ClassifierExtractor"]
