"""A feature extractor with weights of its own, in one file: a stand-in network (4x4 average pooling of each
channel, then a fixed 16 -> 8 linear map with a ReLU, its weights in `pixnet.npz` beside this file). Its weights
are a `Download` like Inception's: the DAG's generic `fetch_pixnet` rule copies them once from their (file://)
address into resources/, checked against the pinned sha256, and every reference and score job reads that copy.
The package's Fréchet distance and KID run in its `embedding` (`fd_pixnet`, `kid_pixnet`) with no edit anywhere."""
from pathlib import Path

import numpy as np

from gan import atomic
from gan.metrics import Download, Extractor, Feature, register_extractor
from gan.metrics.reference import sha256_file


@register_extractor("pixnet")
class PixnetExtractor(Extractor):
    kind = "images"
    provides = {"embedding": Feature(None, "8 ReLU units per channel over its 4x4 average-pooled intensities")}
    modes = ("pooled4",)
    weights = Download("pixnet.npz", Path(__file__).with_name("pixnet.npz").resolve().as_uri(),
                       sha256="c5ad848441a7194b2e2bf78c1d13fd1809e74a38a1449f48c4ac04720008e1c6")

    def __init__(self, mode, weights_path, device, batch_size, num_workers):
        self.mode, self.weights_path = mode, Path(weights_path)
        self.w = atomic.load_npz(self.weights_path, ("w",))["w"].astype(np.float64)  # (16, 8)

    def extract(self, images, wanted):
        if "embedding" not in wanted:
            return {}
        n, c, h, w = images.shape
        cells = images.astype(np.float64).reshape(n, c, 4, h // 4, 4, w // 4).mean(axis=(3, 5)) / 255.0
        return {"embedding": np.maximum(cells.reshape(n, c, 16) @ self.w, 0.0).reshape(n, -1)}

    def describe(self):
        return {"weights_path": str(self.weights_path), "weights_sha256": sha256_file(self.weights_path),
                "device": "cpu"}
