import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.gpu import claim_gpu

gpu_claim = claim_gpu() if snakemake.resources.gpu else None

from gan.metrics.classifier import train_classifier

spec = snakemake.params.spec  # the entry's registered dataset and options
record = train_classifier(spec["dataset"], snakemake.output.model, prepared=snakemake.input.data,
                          epochs=snakemake.params.epochs, holdout=snakemake.params.holdout,
                          device=snakemake.params.device,
                          dataset_options=spec["options"], num_threads=snakemake.threads)
print(record, file=sys.stderr)
