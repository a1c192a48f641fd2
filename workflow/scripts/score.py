import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.gpu import claim_gpu

gpu_claim = claim_gpu() if snakemake.resources.gpu else None

import torch

torch.set_num_threads(snakemake.threads)

from gan.metrics import references_and_weights, score_checkpoint

references, weights = references_and_weights(dict(snakemake.input.items()))
wc = snakemake.wildcards
run = snakemake.params.run
result = score_checkpoint(snakemake.input.samples, references, snakemake.output[0], weights=weights,
                          device=snakemake.params.device, seed=snakemake.params.eval_seed,
                          dataset=run["dataset"], objective=run["objective"], run_seed=run["seed"], step=int(wc.step),
                          num_workers=snakemake.threads - 1)  # clean-fid's loader: the job's other threads
print(result, file=sys.stderr)
