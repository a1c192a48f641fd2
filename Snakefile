# gan-bench: GAN, WGAN and WGAN-GP side by side, from a config grid to the paper's figures and tables.
# Stages live in workflow/rules/*.smk; helpers and config validation in workflow/rules/common.smk.
from snakemake.utils import min_version

min_version("9.0")


# The paper config is the default. A config given with --configfile (e.g. config/smoke.yaml) replaces it
# instead of being deep-merged into it, so the smoke run does not inherit the paper's datasets.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/figure1a.smk"


rule all:
    input:
        get_final_output(),
    default_target: True
