"""A stand-in for clean-fid's `inception-2015-12-05.pt`: tiny, random weights, the same TorchScript interface.

What clean-fid's `InceptionV3W` uses of the real file (cleanfid/inception_torchscript.py):
- `torch.jit.load(folder / "inception-2015-12-05.pt")`, then `.eval()`;
- `base.layers`, a submodule whose `forward(x)` on (N, 3, 299, 299) inputs scaled to [-1, 1] returns N*2048
  values (viewed as (N, 2048)) -- the "clean" path, resized outside the network;
- `base(x, return_features=True)` on (N, 3, H, W) in [0, 255], resized to 299 inside, returning (N, 2048) -- the
  "legacy_tensorflow" path. The real forward also takes use_fp16 / no_output_bias and, without
  return_features, returns 1008 class probabilities from `base.output` (a Linear 2048 -> 1008), from logits
  without the output's bias when no_output_bias; so does this one. gan.metrics.inception reads `base.output.weight`
  for its unbiased `logits` feature (pool @ weight.T).

Only for tests and dry runs of the pipeline: its "FID" numbers mean nothing.
`python tests/inception_standin.py DEST` writes one (DEST must end in inception-2015-12-05.pt).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class StandinLayers(nn.Module):
    """(N, 3, 299, 299) in [-1, 1] -> (N, 2048, 1, 1), like the real network's pool3 output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=5, stride=4, padding=2)
        self.conv_1 = nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(16 * 16, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        x = F.relu(self.conv_1(x))
        x = self.pool(x).flatten(1)
        return F.relu(self.fc(x)).reshape(-1, 2048, 1, 1)


class StandinInception(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = StandinLayers()
        self.output = nn.Linear(2048, 1008)

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:
        batch_size, channels, height, width = img.shape
        assert channels == 3
        x = img.to(torch.float32)
        if height != 299 or width != 299:
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = (x - 128) / 128
        features = self.layers.forward(x).reshape(-1, 2048)
        if return_features:
            return features
        logits = self.output(features)
        if no_output_bias:
            logits = logits - self.output.bias
        return F.softmax(logits, dim=1)


def build_standin(dest: str | Path, seed: int = 0) -> Path:
    """Script a randomly initialised (seeded) stand-in and save it at `dest`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    scripted = torch.jit.script(StandinInception().eval())
    scripted.save(str(dest))
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(build_standin(sys.argv[1]))
