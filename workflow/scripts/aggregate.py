import sys

sys.stderr = open(snakemake.log[0], "w")

from pathlib import Path

from gan.report import aggregate_results

paths = aggregate_results(snakemake.params.run_dirs, Path(snakemake.output.scores).parent,
                          floors=snakemake.input.floors)
print({k: str(v) for k, v in paths.items()}, file=sys.stderr)
