import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.gpu import claim_gpu

gpu_claim = claim_gpu() if snakemake.resources.gpu else None

import torch

torch.set_num_threads(snakemake.threads)

from gan.sampling import sample_run

par = snakemake.params
result = sample_run(par.run_dir, par.steps, par.n, par.eval_seed, snakemake.output.index, device=par.device,
                    sheet=snakemake.output.sheet)
print(result, file=sys.stderr)
