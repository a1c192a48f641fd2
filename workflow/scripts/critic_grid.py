import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

torch.set_num_threads(snakemake.threads)

from gan.critic_grid import critic_grid_checkpoint

result = critic_grid_checkpoint(snakemake.params.run_dir, int(snakemake.wildcards.step), snakemake.output[0],
                                lim=snakemake.params.lim, resolution=snakemake.params.resolution,
                                device=snakemake.params.device)
print(result, file=sys.stderr)
