# Tables and figures of the paper, marked for `snakemake --report results/report.html`.


localrules:
    tables,
    figures,


rule tables:
    input:
        scores=LAYOUT.aggregate("scores"),
        runs=LAYOUT.aggregate("runs"),
        floors=LAYOUT.aggregate("floors"),
    output:
        **{
            f"{name}_{ext}": report(
                LAYOUT.table(name, ext),
                caption=f"../report/{name}.rst",
                category="Tables",
                labels={"table": name, "format": ext},
            )
            for name in TABLES
            for ext in TABLE_FORMATS
        },
    log:
        LAYOUT.log("tables"),
    conda:
        "../envs/gan.yaml"
    script:
        "../scripts/tables.py"


# The figures read only what is declared here: the three tables, the samples of every run at the checkpoints the
# sample figures show, the critic grids of the toy runs and the toy reference points; params give each file's
# identity (aligned with the lists), so the script never parses paths, globs run folders or loads a model.
rule figures:
    input:
        unpack(figures_rule_inputs),
    output:
        [
            report(path, caption=figure_caption(path), category="Figures", labels=figure_labels(path))
            for path in figure_files()
        ],
    log:
        LAYOUT.log("figures"),
    conda:
        "../envs/gan.yaml"
    params:
        **figures_rule_params(),
    script:
        "../scripts/figures.py"
