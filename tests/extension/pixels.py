"""A new feature space in one file: 4x4 average-pooled pixel intensities as an `embedding`, so the package's
Fréchet distance and KID run in it (`fd_pixels`, `kid_pixels`) with no edit anywhere else."""
import numpy as np

from gan.metrics import Extractor, Feature, register_extractor


@register_extractor("pixels")
class PixelsExtractor(Extractor):
    kind = "images"
    provides = {"embedding": Feature(None, "mean intensity of each channel over a 4x4 grid of cells")}
    modes = ("pooled4",)

    def __init__(self, mode, weights_path, device, batch_size, num_workers):
        self.mode = mode

    def extract(self, images, wanted):
        n, c, h, w = images.shape
        cells = images.astype(np.float64).reshape(n, c, 4, h // 4, 4, w // 4).mean(axis=(3, 5))
        return {"embedding": cells.reshape(n, -1)} if "embedding" in wanted else {}

    def describe(self):
        return {"device": "cpu"}
