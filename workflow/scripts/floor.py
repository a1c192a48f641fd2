import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.gpu import claim_gpu

gpu_claim = claim_gpu() if snakemake.resources.gpu else None

import torch

torch.set_num_threads(snakemake.threads)

from gan.metrics import references_and_weights
from gan.metrics.floor import compute_floor

references, weights = references_and_weights(dict(snakemake.input.items()))
spec = snakemake.params.spec
result = compute_floor(snakemake.wildcards.dataset, spec["dataset"], spec["options"], references,
                       snakemake.params.n_gen, snakemake.params.repeats, snakemake.params.eval_seed,
                       snakemake.output[0], prepared=snakemake.input.data, weights=weights,
                       device=snakemake.params.device)
print(result, file=sys.stderr)
