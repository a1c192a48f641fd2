import sys

sys.stderr = open(snakemake.log[0], "w")

from gan import io
from gan.datasets import get_dataset, prepare

dataset = snakemake.wildcards.dataset
files = prepare(dataset, snakemake.params.data_root)  # downloads + checksums for torchvision sets; no-op otherwise
ds = get_dataset(dataset, snakemake.params.data_root, download=False, **snakemake.params.options)
io.write_json(snakemake.output[0], {"dataset": dataset, "kind": ds.kind, "shape": list(ds.shape),
                                    "size": len(ds), "files": [str(f) for f in files]})
print(f"{dataset}: ready ({len(files)} files)", file=sys.stderr)
