"""The Inception Score (Salimans et al. 2016) of generated images, from the Inception extractor's unbiased logits.

The original protocol (openai/improved-gan's inception_score.py, as torch-fidelity reproduces it):
- p(y|x): the softmax, in float64, of the 1008 logits of the 2015 Inception graph *without* the output bias (the
  extractor's `logits`; the bias inflates IS: 11.23 instead of 10.95 on CIFAR-10 test);
- the N samples in an order shuffled with `np.random.RandomState(seed).permutation(N)`, `seed` being the
  evaluation seed (an unshuffled, class-sorted set scores far lower), cut into `is_splits` (default 10) parts
  [i N / splits, (i + 1) N / splits);
- per part exp(H(mean p) - mean H(p)) = exp(mean KL(p(y|x) || p(y))); the mean and the population std (ddof 0)
  over the parts.
IS depends on N (256 CIFAR-10 images: about 6.7; 50k: 11.24), so it is only comparable at one N, which the score
file records (`n_gen`) with the splits and the shuffle seed (`metric_options`) and the resize mode (`mode`).

The key names the resize mode of the reference's extractor (`scoring.fid_mode`): `is` with clean-fid's
"legacy_tensorflow" resize, the one comparable with published numbers (CIFAR-10 train, 50k: 11.24, torch-fidelity
11.23678 ± 0.0951), `is_clean` with its "clean" resize. StudioGAN's variant (bias kept, one split) is another
number and is not computed here. Higher is better; real images' IS at the same N and protocol is the line a
generator is read against (its "floor" in the tables).
"""
from __future__ import annotations

import numpy as np

from gan.metrics.inception import RESIZE_INSIDE
from gan.metrics.registry import Output, register_metric

DEFAULT_SPLITS = 10

#: the key written for each resize mode of the Inception extractor, with the label tables and figures show
KEYS = {"legacy_tensorflow": ("is", "IS (legacy TF resize)"), "clean": ("is_clean", "IS (clean resize)")}
assert set(KEYS) == set(RESIZE_INSIDE), "every Inception mode names its Inception Score"


def inception_score(logits: np.ndarray, splits: int = DEFAULT_SPLITS, seed: int = 0) -> tuple[float, float]:
    """(mean, std over splits) of the Inception Score of `logits` (N, classes), the original protocol (module
    docstring): shuffled with RandomState(seed), float64 softmax, population std."""
    logits = np.asarray(logits, dtype=np.float64)
    n = len(logits)
    if logits.ndim != 2 or n < splits or splits < 1:
        raise ValueError(f"the Inception Score of {splits} splits needs at least {splits} samples of logits "
                         f"(N, classes), got shape {logits.shape}")
    logits = logits[np.random.RandomState(seed).permutation(n)]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        part, log_part = p[i * n // splits:(i + 1) * n // splits], log_p[i * n // splits:(i + 1) * n // splits]
        with np.errstate(invalid="ignore", divide="ignore"):  # a class no sample of the part reaches adds nothing
            log_q = np.log(part.mean(axis=0))
            kl = np.where(part > 0, part * (log_part - log_q), 0.0).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


@register_metric("inception_score", feature="logits", spaces=("inception",), outputs={
    name: output for key, label in KEYS.values()
    for name, output in ((key, Output(label, True, floor=True)),
                         (f"{key}_std", Output(f"{label}: std over splits", None)))})
def inception_score_metric(ctx) -> dict[str, float]:
    """IS of the generated images in the reference's resize mode, seeded with the evaluation seed."""
    splits = ctx.option("is_splits", DEFAULT_SPLITS)
    ctx.used_options["is_shuffle_seed"] = ctx.seed
    key, _ = KEYS[ctx.reference.meta["mode"]]
    mean, std = inception_score(ctx.features, splits, ctx.seed)
    return {key: mean, f"{key}_std": std}
