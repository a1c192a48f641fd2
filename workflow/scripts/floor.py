import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.gpu import claim_gpu

gpu_claim = claim_gpu() if snakemake.resources.gpu else None

import torch

torch.set_num_threads(snakemake.threads)

from gan.metrics.floor import compute_floor

inputs = dict(snakemake.input.items())
references = {k.removeprefix("reference_"): v for k, v in inputs.items() if k.startswith("reference_")}
weights = {k.removeprefix("weights_"): v for k, v in inputs.items() if k.startswith("weights_")}
spec = snakemake.params.spec
result = compute_floor(snakemake.wildcards.dataset, spec["dataset"], spec["options"], references,
                       snakemake.params.n_gen, snakemake.params.repeats, snakemake.params.eval_seed,
                       snakemake.output[0], prepared=snakemake.input.data, weights=weights,
                       device=snakemake.params.device)
print(result, file=sys.stderr)
