import logging
import sys

sys.stderr = open(snakemake.log[0], "w")
logging.basicConfig(level=logging.INFO, stream=sys.stderr)

from gan import io
from gan.tracking import default_artifact_location, init_store, resolve_tracking_uri, write_store_marker

results = snakemake.params.results_dir
uri = resolve_tracking_uri(snakemake.params.tracking_uri, results)
try:
    experiment_id = init_store(uri, snakemake.params.experiment, default_artifact_location(uri, results))
except Exception as err:
    # tracking never costs a result: training goes on, and the mlflow_sync rule creates the store and fills
    # in every point once the store is reachable again
    logging.warning("MLflow store %s unreachable (%s); training runs without live tracking", uri, err)
    io.write_json(snakemake.output[0], {"tracking_uri": uri, "experiment_name": snakemake.params.experiment,
                                        "experiment_id": None, "error": str(err)})
else:
    write_store_marker(snakemake.output[0], uri, experiment_id, snakemake.params.experiment)
    print(f"MLflow store {uri}, experiment {snakemake.params.experiment!r} ({experiment_id})", file=sys.stderr)
