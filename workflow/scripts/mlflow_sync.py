import logging
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(level=logging.INFO, stream=sys.stderr)

from gan import atomic
from gan.tracking import sync

report = sync(snakemake.params.results_dir, (snakemake.config.get("mlflow") or {}).get("tracking_uri"),
              snakemake.params.experiment, runs=snakemake.params.runs, benchmark=snakemake.config)
print(report, file=sys.stderr)
atomic.write_json(snakemake.output[0], report)
