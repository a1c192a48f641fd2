import sys

sys.stderr = open(snakemake.log[0], "w")

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from gan.report import make_figures

written = make_figures(Path(snakemake.input.scores).parent, Path(snakemake.output[0]).parent,
                       datasets=snakemake.params.datasets)
print({k: [str(p) for p in v] for k, v in written.items()}, file=sys.stderr)
