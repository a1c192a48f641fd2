# MLflow mirror of the result files, written only through gan.tracking.sync, which reads the files and takes a file
# lock: this rule at the end of the DAG (tables, figures, Figure 1(a), every run), and, with a tracking URI
# configured, each training job for its own run at checkpoints and when it ends (gan.tracking.LiveMirror, failing
# soft). Idempotent, so rerunning it, or a user's `python -m gan mlflow-sync` at the same time, adds nothing twice;
# while the store or server is down only this rule fails, and a later run fills MLflow in from the files.
from gan.provenance import redact


localrules:
    mlflow_sync,


rule mlflow_sync:
    input:
        summaries=summary_files(),
        scores=score_files(),
        report=report_outputs(),
        figure1a=figure1a_files(),
        provenance=LAYOUT.provenance,
    output:
        LAYOUT.mlflow_synced,
    log:
        LAYOUT.log("mlflow_sync"),
    conda:
        "../envs/gan.yaml"
    params:
        # the URI without credentials (Snakemake records params in .snakemake/): a changed server reruns the sync;
        # the script reads the URI itself from the config
        tracking_server=redact(MLFLOW.get("tracking_uri")),
        experiment=GRID.config["experiment"],
        results_dir=lambda wildcards, input: Layout.holding(input.provenance, "provenance").root,
        runs=GRID.runs(),
    script:
        "../scripts/mlflow_sync.py"
