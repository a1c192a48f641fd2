import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.metrics.fid import fetch_inception

print(f"Inception weights: {fetch_inception(snakemake.output[0])}", file=sys.stderr)
