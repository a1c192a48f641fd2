import sys

sys.stderr = open(snakemake.log[0], "w")

import matplotlib

matplotlib.use("Agg")

from gan.report import make_figures

# the plan's inputs with their identity, as gan.report.registry.figures_stage gave them to the rule's params
par = snakemake.params
written = make_figures(root=par.results, datasets=par.datasets, toy_datasets=par.toy_datasets, runs=par.runs,
                       spaces=par.spaces, inputs=par.inputs)
missing = set(map(str, snakemake.output)) - {str(p) for paths in written.values() for p in paths}
if missing:
    raise RuntimeError(f"figures declared but not written: {sorted(missing)}")
print({k: [str(p) for p in v] for k, v in written.items()}, file=sys.stderr)
