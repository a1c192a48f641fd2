# gan-bench: GAN, WGAN and WGAN-GP side by side, from a config grid to the paper's figures and tables.
# Stages live in workflow/rules/*.smk; helpers and config validation in workflow/rules/common.smk.
from snakemake.utils import min_version

min_version("9.0")


# The paper config. As Snakemake documents: `--configfile overlay.yaml` and `--config key=value` are merged into
# it; a complete config of its own (config/smoke.yaml, config/toy.yaml) replaces it with
# `--replace-workflow-config`.
configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/figure1a.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
