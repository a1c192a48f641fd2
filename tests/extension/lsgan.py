"""The README's extension example, as a user writes it: one registered objective in one file."""
from dataclasses import dataclass
from typing import ClassVar

from gan.objectives import CriticStep, Objective, register_objective


@register_objective
@dataclass
class LeastSquaresGAN(Objective):
    name: ClassVar[str] = "lsgan"

    def critic_step(self, critic, real, fake):
        real_scores, fake_scores = critic(real), critic(fake)
        loss = 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores ** 2).mean()
        return CriticStep(loss, real_scores, fake_scores)

    def generator_loss(self, fake_scores):
        return 0.5 * ((fake_scores - 1) ** 2).mean()
