"""A metric of a plugin extractor's feature, in one file: the distance between the mean pixnet embedding of the
generated samples and of the real ones (the real mean computed once, into the reference file)."""
import numpy as np

from gan.metrics import Output, register_metric


@register_metric("pixnet_gap", feature="embedding", spaces=("pixnet",),
                 reference=lambda real: {"embedding_mean": real.mean(axis=0)},
                 outputs={"pixnet_gap": Output("mean pixnet embedding gap", False, floor=True)})
def pixnet_gap(ctx) -> dict[str, float]:
    return {"pixnet_gap": float(np.linalg.norm(ctx.features.mean(axis=0) - ctx.reference["embedding_mean"]))}
