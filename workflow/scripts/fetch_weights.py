import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.metrics.weights import fetch_weights

print(f"{snakemake.params.extractor} weights: {fetch_weights(snakemake.params.extractor, snakemake.output[0])}",
      file=sys.stderr)
