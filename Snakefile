# gan-bench: GAN, WGAN and WGAN-GP side by side, from a config grid to the paper's figures and tables.
# Stages live in workflow/rules/*.smk; helpers and config validation in workflow/rules/common.smk.
import copy
import os
import sys

from snakemake.utils import min_version

min_version("9.0")


# The paper config. As Snakemake documents: `--configfile overlay.yaml` and `--config key=value` are merged into
# it; a complete config of its own (config/smoke.yaml, config/toy.yaml) replaces it with
# `--replace-workflow-config`.
configfile: "config/config.yaml"


# Snakemake 9.27 does not pass --replace-workflow-config on to the jobs it spawns (a cluster job runs a snakemake
# of its own, given the same --configfiles): the main process says so in the environment the jobs inherit, and a
# spawned job replaces the config the same way.
if workflow.config_settings.replace_workflow_config:
    os.environ.update(GAN_BENCH_REPLACE_WORKFLOW_CONFIG="1")
elif os.environ.get("GAN_BENCH_REPLACE_WORKFLOW_CONFIG") == "1" and workflow.overwrite_configfiles:
    config.clear()
    config.update(copy.deepcopy(workflow.config_settings.overwrite_config))


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/figure1a.smk"
include: "workflow/rules/papers.smk"


# A changed setting reruns `train`, and Snakemake deletes a job's declared outputs before it runs: before any job
# starts, each planned training whose run folder holds another run (other settings, or more steps done) is moved,
# whole, to results/{experiment}/replaced/ (gan.runs), so a finished run's files are kept and said so.
onstart:
    planned = {
        (j.wildcards.dataset, j.wildcards.objective, int(j.wildcards.seed))
        for j in workflow.dag.needrun_jobs()
        if j.rule.name == "train"
    }
    for line in set_aside_replaced(LAYOUT, [(*r, GRID.train_settings(*r)) for r in GRID.runs() if r in planned]):
        print(f"kept a replaced run: {line}", file=sys.stderr)


# What to open when the DAG ends, or which logs to read when it failed (gan.status)
onsuccess:
    print(
        success_message(
            LAYOUT,
            report_outputs(),
            [out.path for out in FIGURES_STAGE.outputs] + figure1a_files(),
            config_arguments(),
            status_command(),
        ),
        file=sys.stderr,
    )


onerror:
    failed = [
        (f"{job.rule.name} {dict(job.wildcards_dict)}", [str(f) for f in job.log])
        for job in workflow.scheduler.failed
    ]
    print(failure_message(failed, status_command()), file=sys.stderr)


rule all:
    default_target: True
    input:
        get_final_output(),
