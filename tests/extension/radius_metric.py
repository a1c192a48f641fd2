"""A new metric in one file: the gap between the mean distance to the origin of generated and real points."""
import numpy as np

from gan.metrics import Output, register_metric


@register_metric("radius_gap", feature="points",
                 outputs={"radius_gap": Output("mean-radius gap to real data", False, floor=True)})
def radius_gap(ctx):
    gen = np.linalg.norm(ctx.features, axis=1).mean()
    real = np.linalg.norm(ctx.reference["points"], axis=1).mean()
    return {"radius_gap": float(abs(gen - real))}
