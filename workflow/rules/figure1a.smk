# WGAN-GP paper, Figure 1(a) (issue 11, point 5): critics trained to optimality against a fixed "generator"
# (the data plus Gaussian noise), weight clipping vs gradient penalty, on the toy datasets. Its own small stage: no
# GAN is trained; one CPU job per (dataset, constraint) writes the critic's value surface, scatter points, loss
# curve and gradient-norm statistics (gan.optimal_critic), and the figure1a rule draws the figure and the table
# (gan.report.figures.figure1a, registered as the figure "figure1a" of this stage). Settings: the config's
# `figure1a:` block, validated, with config/schema.yaml's defaults.
localrules:
    figure1a,


# One critic, trained for figure1a.steps updates against data + N(0, noise_std^2): "clipping" (wgan: RMSProp 5e-5,
# c = 0.01) or "penalty" (wgan-gp: Adam(1e-4, (0.5, 0.9)), lambda = figure1a.gp_lambda).
rule optimal_critic:
    output:
        LAYOUT.optimal_critic("{dataset}", "{constraint}"),
    log:
        LAYOUT.log("optimal_critic", "{dataset}", "{constraint}"),
    wildcard_constraints:
        dataset=_alternatives(FIGURE1A["datasets"]) or "(?!)",
        constraint=_alternatives(FIGURE1A_CONSTRAINTS),
    conda:
        "../envs/gan.yaml"
    threads: 1
    resources:
        gpu=0,
        mem_mb=JOB_SIZE["points"]["mem_mb"],  # figure1a datasets are 2-D sets, and need not be in the grid
        runtime=60,
    params:
        dataset=lambda wildcards: wildcards.dataset,
        constraint=lambda wildcards: wildcards.constraint,
        steps=FIGURE1A["steps"],
        batch_size=FIGURE1A["batch_size"],
        noise_std=FIGURE1A["noise_std"],
        gp_lambda=FIGURE1A["gp_lambda"],
        width=FIGURE1A["width"],
        pairing=FIGURE1A["pairing"],
        seed=FIGURE1A["seed"],
    script:
        "../scripts/optimal_critic.py"


rule figure1a:
    input:
        critics=figure1a_critic_files(),
    output:
        pdf=report(
            figure1a_figure("pdf"),
            caption=caption_path(FIGURE1A_FIGURE.caption),
            category="Figures",
            labels={"figure": FIGURE1A_FIGURE.stem, "format": "pdf"},
        ),
        png=report(
            figure1a_figure("png"),
            caption=caption_path(FIGURE1A_FIGURE.caption),
            category="Figures",
            labels={"figure": FIGURE1A_FIGURE.stem, "format": "png"},
        ),
        table_csv=LAYOUT.figure1a_table("csv"),
        table_md=LAYOUT.figure1a_table("md"),
        # the table's page, which the report shows (the .csv holds every number, the .md is for Markdown)
        table_html=report(
            LAYOUT.figure1a_table("html"),
            caption=caption_path(FIGURE1A_FIGURE.caption),
            category="Tables",
            labels={"table": "figure1a_gradient_norms"},
        ),
    log:
        LAYOUT.log("figure1a"),
    conda:
        "../envs/gan.yaml"
    params:
        datasets=FIGURE1A["datasets"],
    script:
        "../scripts/figure1a.py"
