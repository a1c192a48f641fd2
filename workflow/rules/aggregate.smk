# Aggregation: one tidy table of every (dataset, objective, seed, step), the training curves, the runs and the floors.
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
        # each table's .csv (the data) and its .html page, which the report shows
        **{name: LAYOUT.aggregate(name) for name in AGGREGATES},
        **{
            f"{name}_html": report(
                LAYOUT.aggregate(name, "html"),
                caption=f"../report/{name}.rst",
                category="Tables",
                labels={"table": name},
            )
            for name in AGGREGATES
        },
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
