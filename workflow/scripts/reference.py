import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.gpu import claim_gpu

gpu_claim = claim_gpu() if snakemake.resources.gpu else None

import torch

torch.set_num_threads(snakemake.threads)

from gan.metrics import compute_reference

wc = snakemake.wildcards
spec = snakemake.params.spec  # the entry's registered dataset and options
path = compute_reference(spec["dataset"], wc.extractor, snakemake.output[0], prepared=snakemake.input.data,
                         split=wc.split, mode=wc.mode, n_real=int(wc.n), seed=int(wc.eval_seed),
                         weights_path=snakemake.input.get("weights"), device=snakemake.params.device,
                         num_workers=snakemake.threads - 1, dataset_options=spec["options"], overwrite=True)
print(f"reference statistics: {path}", file=sys.stderr)
