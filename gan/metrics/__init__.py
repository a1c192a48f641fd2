"""Scoring: feature extractors, metrics, reference statistics and the score files of docs/CONTRACTS.md.

Modules by role (each imports only those above it):
- `registry`: what an extractor (`@register_extractor`) and a metric (`@register_metric`) are; no torch, no numpy.
- `distances`: pure distances (exact Fréchet distance, seeded KID, exact W1, KL to uniform).
- `reference`: `compute_reference` (real-data statistics, once per dataset, split, extractor, mode, n and seed),
  `load_reference`.
- `scoring`: `Scorer` (a reference and its extractor loaded once for many sample files), `score_samples`,
  `score_checkpoint` (several feature spaces into one file), `score_run` (every checkpoint of a run).
- `weights`: `fetch_weights` (an extractor's download, once); `floor`: real-vs-real floors.
- the units, one file each: `inception` (clean-fid's Inception: `pool`, `logits`), `classifier` (the dataset's
  own CNN: `embedding`, `logits`, `channel_logits`; class metrics), `toy` (2-D `points`; W1, modes),
  `feature_distances` (FD and KID in every space with an embedding), `inception_score` (IS from Inception's
  logits), `prdc` (precision, recall, density, coverage in every space with per-sample features). A plugin file
  adds more the same way.
"""
from __future__ import annotations

from gan.metrics.reference import Reference, compute_reference, default_reference_path, load_reference, sha256_file
from gan.metrics.registry import (EXTRACTORS, METRICS, Download, Extractor, Feature, Metric, Output, Trained,
                                  build_extractor, extractor, metric_outputs, register_extractor, register_metric)
from gan.metrics.scoring import (ScoreContext, Scorer, build_scorers, references_and_weights, score_checkpoint,
                                 score_run, score_samples)

# the package's own units; registration order is the order of the score files and of equally ranked columns
from gan.metrics import inception, feature_distances, classifier, toy  # noqa: E402,F401,I001
from gan.metrics import inception_score, prdc  # noqa: E402,F401,I001

__all__ = ["EXTRACTORS", "METRICS", "Download", "Extractor", "Feature", "Metric", "Output", "Reference",
           "ScoreContext", "Scorer", "Trained", "build_extractor", "build_scorers", "compute_reference",
           "default_reference_path", "extractor", "load_reference", "metric_outputs", "references_and_weights",
           "register_extractor", "register_metric", "score_checkpoint", "score_run", "score_samples",
           "sha256_file"]
