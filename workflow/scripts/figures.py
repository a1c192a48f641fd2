import sys

sys.stderr = open(snakemake.log[0], "w")

import matplotlib

matplotlib.use("Agg")

from gan.report import make_figures


def records(files, meta):
    # identity of every declared file comes from the rule's params, aligned with the file list
    files, meta = list(files), list(meta)
    if len(files) != len(meta):
        raise ValueError(f"{len(files)} files but {len(meta)} identities")
    return [{**m, "path": f} for f, m in zip(files, meta)]


inp, par = snakemake.input, snakemake.params
written = make_figures(scores=inp.scores, training=inp.training, runs=inp.runs, floors=inp.floors, root=par.results,
                       datasets=par.datasets, toy_datasets=par.toy_datasets,
                       samples=records(par.samples, par.samples_meta),
                       critic_grids=records(inp.critic_grids, par.critic_grids_meta),
                       references=records(inp.references, par.references_meta))
missing = set(map(str, snakemake.output)) - {str(p) for paths in written.values() for p in paths}
if missing:
    raise RuntimeError(f"figures declared but not written: {sorted(missing)}")
print({k: [str(p) for p in v] for k, v in written.items()}, file=sys.stderr)
