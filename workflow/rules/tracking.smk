# MLflow mirror of the result files. The store and experiment are created once (SQLite schema migration
# fails when many jobs create a fresh store at once); the sync brings MLflow up to date from the files and
# is idempotent, so it also repairs whatever a job could not log live (server down, store locked).


localrules:
    mlflow_init,


rule mlflow_init:
    output:
        f"{RESULTS}/mlflow/store.json",
    params:
        tracking_uri=MLFLOW.get("tracking_uri"),
        experiment=BENCH.config["experiment"],
        results_dir=RESULTS,
    log:
        f"{RESULTS}/logs/mlflow_init.log",
    script:
        "../scripts/mlflow_init.py"


rule mlflow_sync:
    input:
        store=f"{RESULTS}/mlflow/store.json",
        summaries=summary_files(),
        scores=score_files(),
        report=report_outputs(),
    output:
        f"{RESULTS}/mlflow/synced.json",
    params:
        tracking_uri=MLFLOW.get("tracking_uri"),
        experiment=BENCH.config["experiment"],
        results_dir=RESULTS,
        run_dirs=run_dirs(),
    log:
        f"{RESULTS}/logs/mlflow_sync.log",
    script:
        "../scripts/mlflow_sync.py"
