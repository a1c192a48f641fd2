"""Optimisers the reference code uses that PyTorch does not ship.

TensorFlow 1's RMSProp (`tf.train.RMSPropOptimizer`, what the WGAN-GP paper's gan_toy.py, gan_mnist.py and
gan_cifar.py use for their weight-clipping baselines) is not PyTorch's `torch.optim.RMSprop` (what the WGAN paper's
own main.py uses): TF1 starts the mean square at 1 (PyTorch at 0), decays it by 0.9 (PyTorch 0.99) and puts epsilon
inside the square root (PyTorch outside). From a zero accumulator PyTorch's first steps are about lr / sqrt(0.01)
per coordinate, far larger than TF1's lr * |g| / sqrt(0.9 + 0.1 g^2) for the small gradients of a clipped critic.
"""
from __future__ import annotations

import torch


class TFRMSprop(torch.optim.Optimizer):
    """TF1's RMSProp without momentum: ms <- decay * ms + (1 - decay) * g^2 (ms starts at 1),
    w <- w - lr * g / sqrt(ms + eps). Defaults are tf.train.RMSPropOptimizer's (decay 0.9, epsilon 1e-10)."""

    def __init__(self, params, lr: float, decay: float = 0.9, eps: float = 1e-10):
        if lr <= 0 or not 0 <= decay < 1 or eps < 0:
            raise ValueError(f"TFRMSprop: lr {lr}, decay {decay}, eps {eps} out of range")
        super().__init__(params, {"lr": lr, "decay": decay, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["ms"] = torch.ones_like(p, memory_format=torch.preserve_format)
                ms = state["ms"]
                ms.mul_(group["decay"]).addcmul_(p.grad, p.grad, value=1 - group["decay"])
                p.addcdiv_(p.grad, ms.add(group["eps"]).sqrt_(), value=-group["lr"])
        return loss
