import sys

sys.stderr = open(snakemake.log[0], "w")

from gan import io
from gan.tracking import benchmark_artifact_paths, log_benchmark_artifacts, resolve_tracking_uri, sync_results

results = snakemake.params.results_dir
uri = resolve_tracking_uri(snakemake.params.tracking_uri, results)
reports = sync_results(results, uri, snakemake.params.experiment, run_dirs=snakemake.params.run_dirs,
                       snakemake_rule=snakemake.rule)
log_benchmark_artifacts(results, uri, snakemake.params.experiment, benchmark_artifact_paths(results))
added = sum(r["metrics"] for r in reports)
print(f"synced {len(reports)} runs to {uri}: {added} metric points added", file=sys.stderr)
io.write_json(snakemake.output[0], {"tracking_uri": uri, "experiment": snakemake.params.experiment,
                                    "runs": len(reports), "metric_points_added": added})
