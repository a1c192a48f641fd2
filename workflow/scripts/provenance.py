import sys

sys.stderr = open(snakemake.log[0], "w")

import datetime

from gan import atomic
from gan.provenance import git_state
from gan.utils import hardware, package_versions

# devices the training jobs actually ran on, from their summaries (the DAG may span machines)
devices = sorted({atomic.read_json(p).get("device", "?") for p in snakemake.input.summaries})
atomic.write_json(snakemake.output[0], {
    "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "git": git_state(),
    "config_hash": snakemake.params.config_hash,
    "config": snakemake.params.config,
    "versions": package_versions(),
    "hardware": hardware(),
    "training_devices": devices,
})
