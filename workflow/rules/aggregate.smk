# Aggregation: one tidy table of every (dataset, objective, seed, step), the training curves and the runs.
from gan.provenance import redact


localrules:
    aggregate,
    provenance,


rule aggregate:
    input:
        summaries=summary_files(),
        scores=score_files(),
        floors=floor_files(),
    output:
        scores=report(LAYOUT.aggregate("scores"), caption="../report/scores.rst", category="Tables"),
        training=report(LAYOUT.aggregate("training"), caption="../report/training.rst", category="Tables"),
        runs=report(LAYOUT.aggregate("runs"), caption="../report/runs.rst", category="Tables"),
        floors=report(LAYOUT.aggregate("floors"), caption="../report/floors.rst", category="Tables"),
    log:
        LAYOUT.log("aggregate"),
    conda:
        "../envs/gan.yaml"
    params:
        run_dirs=run_dirs(),
    script:
        "../scripts/aggregate.py"


rule provenance:
    input:
        summaries=summary_files(),
    output:
        LAYOUT.provenance,
    log:
        LAYOUT.log("provenance"),
    conda:
        "../envs/gan.yaml"
    params:
        # without a tracking URI's credentials: Snakemake records params in .snakemake/, the file goes to MLflow
        config=redact(config),
        config_hash=GRID.config_hash(),
    script:
        "../scripts/provenance.py"
