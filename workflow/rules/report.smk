# Tables and figures of the paper, marked for `snakemake --report results/report.html`.


localrules:
    tables,
    figures,


rule tables:
    input:
        scores=f"{RESULTS}/tables/scores.csv",
        runs=f"{RESULTS}/tables/runs.csv",
    output:
        **{
            f"{name}_{ext}": report(
                f"{RESULTS}/tables/{name}.{ext}",
                caption=f"../report/{name}.rst",
                category="Tables",
                labels={"table": name, "format": ext},
            )
            for name in TABLES
            for ext in ("csv", "md", "tex")
        },
    log:
        f"{RESULTS}/logs/tables.log",
    script:
        "../scripts/tables.py"


rule figures:
    input:
        scores=f"{RESULTS}/tables/scores.csv",
        training=f"{RESULTS}/tables/training.csv",
        runs=f"{RESULTS}/tables/runs.csv",
    output:
        [
            report(path, caption=figure_caption(path), category="Figures", labels=figure_labels(path))
            for path in figure_files()
        ],
    params:
        datasets=BENCH.datasets,
    log:
        f"{RESULTS}/logs/figures.log",
    script:
        "../scripts/figures.py"
