import sys

sys.stderr = open(snakemake.log[0], "w")

from gan.tracking import default_artifact_location, init_store, resolve_tracking_uri, write_store_marker

results = snakemake.params.results_dir
uri = resolve_tracking_uri(snakemake.params.tracking_uri, results)
experiment_id = init_store(uri, snakemake.params.experiment, default_artifact_location(uri, results))
write_store_marker(snakemake.output[0], uri, experiment_id, snakemake.params.experiment)
print(f"MLflow store {uri}, experiment {snakemake.params.experiment!r} ({experiment_id})", file=sys.stderr)
