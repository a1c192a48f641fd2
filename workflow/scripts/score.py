import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.gpu import claim_gpu

gpu_claim = claim_gpu() if snakemake.resources.gpu else None

import torch

torch.set_num_threads(snakemake.threads)

from gan.metrics import build_scorers, references_and_weights, score_run

references, weights = references_and_weights(dict(snakemake.input.items()))
# clean-fid's loader gets the job's other threads
scorers = build_scorers(references, weights, device=snakemake.params.device, num_workers=snakemake.threads - 1)
run = snakemake.params.run
result = score_run(snakemake.input.samples, scorers, snakemake.output.index, seed=snakemake.params.eval_seed,
                   dataset=run["dataset"], objective=run["objective"], run_seed=run["seed"])
print(result, file=sys.stderr)
