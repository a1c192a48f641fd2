import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.gpu import claim_gpu

gpu_claim = claim_gpu() if snakemake.resources.gpu else None

import torch

torch.set_num_threads(snakemake.threads)

from gan.sampling import sample_checkpoint

result = sample_checkpoint(snakemake.params.run_dir, int(snakemake.wildcards.step), snakemake.params.n,
                           snakemake.params.eval_seed, snakemake.output.samples, snakemake.output.picture,
                           device=snakemake.params.device)
print(result, file=sys.stderr)
