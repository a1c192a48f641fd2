"""gan-bench: GAN, WGAN (weight clipping) and WGAN-GP, trained and compared exactly as the papers define them."""
from .config import ConfigError, TrainConfig
from .objectives import OBJECTIVES, build_objective
from .models import MODELS, build_models
from .datasets import DATASETS, get_dataset

__all__ = ["ConfigError", "TrainConfig", "OBJECTIVES", "build_objective", "MODELS", "build_models", "DATASETS",
           "get_dataset"]
