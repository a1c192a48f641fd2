import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

torch.set_num_threads(snakemake.threads)

from gan.wgan_examples import compute_stage

summary = compute_stage(snakemake.params.stage, snakemake.output[0], dict(snakemake.params.settings),
                        progress=lambda line: print(line, file=sys.stderr, flush=True))
print(summary, file=sys.stderr)
