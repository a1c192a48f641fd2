import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.datasets import dataset_spec, prepare_dataset

spec = dataset_spec(snakemake.params.spec["dataset"], **snakemake.params.spec["options"])
# downloads + checksums (torchvision sets), then both splits decoded once into the prepared tensor file
described = prepare_dataset(spec, snakemake.params.downloads, snakemake.output[0])
print(f"{snakemake.wildcards.dataset}: {described}", file=sys.stderr)
