import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

torch.set_num_threads(snakemake.threads)

from gan.optimal_critic import optimal_critic_file

par = snakemake.params
summary = optimal_critic_file(
    par.dataset, par.constraint, snakemake.output[0], steps=par.steps, batch_size=par.batch_size,
    noise_std=par.noise_std, seed=par.seed, gp_lambda=par.gp_lambda, width=par.width, pairing=par.pairing,
    device="cpu", progress=lambda step, w: print(f"update {step}: W estimate {w:.4g}", file=sys.stderr, flush=True))
print(summary, file=sys.stderr)
