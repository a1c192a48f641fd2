import sys

sys.stderr = open(snakemake.log[0], "w")

from pathlib import Path

from gan.report import make_tables

written = make_tables(Path(snakemake.input.scores).parent, Path(snakemake.output[0]).parent)
missing = set(map(str, snakemake.output)) - {str(p) for paths in written.values() for p in paths}
if missing:
    raise RuntimeError(f"tables declared but not written: {sorted(missing)}")
print({k: [str(p) for p in v] for k, v in written.items()}, file=sys.stderr)
