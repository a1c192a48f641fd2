# Aggregation: one tidy table of every (dataset, objective, seed, step), the training curves and the runs.


localrules:
    aggregate,
    provenance,


rule aggregate:
    input:
        summaries=summary_files(),
        scores=score_files(),
    output:
        scores=report(f"{RESULTS}/tables/scores.csv", caption="../report/scores.rst", category="Tables"),
        training=report(f"{RESULTS}/tables/training.csv", caption="../report/training.rst", category="Tables"),
        runs=report(f"{RESULTS}/tables/runs.csv", caption="../report/runs.rst", category="Tables"),
    params:
        run_dirs=run_dirs(),
    log:
        f"{RESULTS}/logs/aggregate.log",
    script:
        "../scripts/aggregate.py"


rule provenance:
    input:
        summaries=summary_files(),
    output:
        f"{RESULTS}/provenance.json",
    params:
        config=config,
        config_hash=BENCH.config_hash(),
    log:
        f"{RESULTS}/logs/provenance.log",
    script:
        "../scripts/provenance.py"
