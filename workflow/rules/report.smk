# Tables and figures of the paper, marked for `snakemake --report results/{experiment}/report.html`: each table's
# .html page (shown inside the report; the .csv, .md and .tex beside it are for machines, Markdown and LaTeX), as
# every rule's table is (aggregate.smk, figure1a.smk, papers.smk, the figures' own tables here).


from gan.status import summarised


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
            f"{name}_{ext}": (
                report(
                    LAYOUT.table(name, ext), caption=f"../report/{name}.rst", category="Tables", labels={"table": name}
                )
                if ext == "html"
                else LAYOUT.table(name, ext)
            )
            for name in TABLES
            for ext in TABLE_FORMATS
        },
        all_metrics=LAYOUT.table(ALL_METRICS_TABLE, "csv"),
        all_metrics_html=report(
            LAYOUT.table(ALL_METRICS_TABLE, "html"),
            caption=f"../report/{ALL_METRICS_TABLE}.rst",
            category="Tables",
            labels={"table": ALL_METRICS_TABLE},
        ),
    log:
        LAYOUT.log("tables"),
    conda:
        "../envs/gan.yaml"
    script:
        "../scripts/tables.py"


# The registered figures' plan (common.smk: FIGURES_STAGE): each figure file with its caption, and only the inputs
# the planned figures name (the tables, the samples of every run at the checkpoints the sample figures show, the
# critic grids of the toy runs, the toy reference points); params give each file's identity, so the script never
# parses paths, globs run folders or loads a model.
rule figures:
    input:
        unpack(figures_rule_inputs),
    output:
        [
            (
                report(out.path, caption=out.caption, category=out.category, labels=out.labels)
                if out.in_report
                else out.path
            )
            for out in FIGURES_STAGE.outputs
        ],
    log:
        LAYOUT.log("figures"),
    conda:
        "../envs/gan.yaml"
    params:
        # the report shows each list of inputs as its size, not every sample path (gan.status.summarised)
        **summarised(figures_rule_params()),
    script:
        "../scripts/figures.py"
