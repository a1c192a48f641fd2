import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.gpu import claim_gpu

gpu_claim = claim_gpu() if snakemake.resources.gpu else None

import torch

torch.set_num_threads(snakemake.threads)

from gan.metrics import compute_reference

wc = snakemake.wildcards
path = compute_reference(wc.dataset, wc.extractor, snakemake.output[0], data_root=snakemake.params.data_root,
                         split=wc.split, mode=wc.mode, n_real=int(wc.n),
                         weights_path=snakemake.input.get("weights"), device=snakemake.params.device,
                         num_workers=snakemake.threads - 1, dataset_options=snakemake.params.options,
                         overwrite=True)
print(f"reference statistics: {path}", file=sys.stderr)
