import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.gpu import claim_gpu

gpu_claim = claim_gpu() if snakemake.resources.gpu else None

from gan.metrics.classifier import train_classifier

record = train_classifier(snakemake.wildcards.dataset, snakemake.output.model, data_root=snakemake.params.data_root,
                          epochs=snakemake.params.epochs, device=snakemake.params.device,
                          dataset_options=snakemake.params.options, num_threads=snakemake.threads)
print(record, file=sys.stderr)
