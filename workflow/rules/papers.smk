# The papers' small analytic experiments (issue 21), each a stage of its own, independent of the benchmark grid:
# WGAN Example 1 / Figure 1 (`wgan_example1`), WGAN Figure 2 (`wgan_figure2`) and WGAN-GP Figure 1(b)
# (`wgangp_figure1b`). One CPU job per stage computes its npz (gan.wgan_examples); its figure rule draws the figure
# and a CSV of its numbers (gan.report.figures.papers, registered as the figure of that stage). Settings: the
# config's block of the stage's name, validated, with config/schema.yaml's defaults (GRID.papers).
from gan.report.figures.papers import stage_files  # noqa: E402
from gan.report.registry import caption_path, figure_spec  # noqa: E402
from gan.wgan_examples import STAGES as PAPER_STAGES  # noqa: E402

PAPERS = GRID.papers
# each stage's figure (pdf, png) and table, with the registered figure's caption in the report; the table's .html
# page is shown there, its .csv (the data) is not
PAPER_OUTPUTS = {
    stage: {
        key: (
            path
            if key == "table_csv"
            else report(
                path,
                caption=caption_path(figure_spec(stage).caption),
                category="Tables" if key.startswith("table_") else "Figures",
                labels={"figure": stage, "format": key.replace("table_", "")},
            )
        )
        for key, path in stage_files(LAYOUT, stage).items()
    }
    for stage in PAPER_STAGES
}
# what the default target asks of this file (common.smk's get_final_output): every enabled stage's files
PAPERS_FILES = [f for stage in PAPER_STAGES if PAPERS[stage]["enabled"] for f in stage_files(LAYOUT, stage).values()]


localrules:
    wgan_example1,
    wgan_figure2,
    wgangp_figure1b,


rule paper_stage_data:
    output:
        LAYOUT.paper_stage_data("{stage}"),
    log:
        LAYOUT.log("paper_stage_data", "{stage}"),
    wildcard_constraints:
        stage=_alternatives(PAPER_STAGES),
    conda:
        "../envs/gan.yaml"
    threads: 1
    resources:
        gpu=0,
        mem_mb=JOB_SIZE["points"]["mem_mb"],  # small nets on 1-D and 2-D points
        runtime=120,
    params:
        stage=lambda wildcards: wildcards.stage,
        settings=lambda wildcards: PAPERS[wildcards.stage],
    script:
        "../scripts/paper_stage_data.py"


rule wgan_example1:
    input:
        data=LAYOUT.paper_stage_data("wgan_example1"),
    output:
        **PAPER_OUTPUTS["wgan_example1"],
    log:
        LAYOUT.log("wgan_example1"),
    conda:
        "../envs/gan.yaml"
    params:
        stage="wgan_example1",
        settings=PAPERS["wgan_example1"],
    script:
        "../scripts/paper_figure.py"


rule wgan_figure2:
    input:
        data=LAYOUT.paper_stage_data("wgan_figure2"),
    output:
        **PAPER_OUTPUTS["wgan_figure2"],
    log:
        LAYOUT.log("wgan_figure2"),
    conda:
        "../envs/gan.yaml"
    params:
        stage="wgan_figure2",
        settings=PAPERS["wgan_figure2"],
    script:
        "../scripts/paper_figure.py"


rule wgangp_figure1b:
    input:
        data=LAYOUT.paper_stage_data("wgangp_figure1b"),
    output:
        **PAPER_OUTPUTS["wgangp_figure1b"],
    log:
        LAYOUT.log("wgangp_figure1b"),
    conda:
        "../envs/gan.yaml"
    params:
        stage="wgangp_figure1b",
        settings=PAPERS["wgangp_figure1b"],
    script:
        "../scripts/paper_figure.py"
