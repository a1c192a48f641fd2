# Evaluation of every checkpoint: generate samples, score them against the dataset's reference, and (toy data)
# the critic's values over the plane for the figures. `sample` and `score` run once per run over all of its
# checkpoints (one process start, one network and reference load per run); each declares an index of the
# per-checkpoint files it wrote, which are kept for a retry like training checkpoints (gan.progress). The rules
# share one group per run, so on a cluster a run's evaluation is one job.


rule sample:
    input:
        summary=str(RUN.summary),
    output:
        index=str(RUN.samples_index),
        sheet=report(
            str(RUN.sample_sheet),
            caption="../report/run_samples.rst",
            category="Samples of every run",
            subcategory="{dataset}",
            labels={"objective": "{objective}", "seed": "{seed}"},
        ),
    log:
        LAYOUT.log("sample", "{dataset}", "{objective}", "seed{seed}"),
    benchmark:
        LAYOUT.benchmark("sample", "{dataset}", "{objective}", "seed{seed}")
    group:
        "evaluate_{dataset}_{objective}_{seed}"
    conda:
        "../envs/gan.yaml"
    threads: 1
    resources:
        gpu=uses_gpu,
        gpu_model=gpu_model,
        mem_mb=job_mem_mb,
        runtime=eval_runtime,
    params:
        run_dir=run_dir,
        steps=checkpoint_steps,
        n=n_samples,
        eval_seed=GRID.eval_seed,
        device=GRID.device,
    script:
        "../scripts/sample.py"


rule score:
    input:
        unpack(score_rule_inputs),
    output:
        index=str(RUN.scores_index),
    log:
        LAYOUT.log("score", "{dataset}", "{objective}", "seed{seed}"),
    benchmark:
        LAYOUT.benchmark("score", "{dataset}", "{objective}", "seed{seed}")
    group:
        "evaluate_{dataset}_{objective}_{seed}"
    conda:
        "../envs/gan.yaml"
    threads: loader_threads
    resources:
        gpu=uses_gpu,
        gpu_model=gpu_model,
        mem_mb=job_mem_mb,
        runtime=eval_runtime,
    params:
        eval_seed=GRID.eval_seed,
        run=run_identity,
        device=GRID.device,
    script:
        "../scripts/score.py"


# Toy (2-D points) runs: the critic's values over [-lim, lim]^2 at a checkpoint, for the toy-critic figure
# (requested by the figures rule's inputs only; a run that diverged before the step gets a file marked missing).
rule critic_grid:
    input:
        summary=str(RUN.summary),
    output:
        str(RUN.critic_grid("{step}")),
    log:
        LAYOUT.log("critic_grid", "{dataset}", "{objective}", "seed{seed}", "step{step}"),
    group:
        "evaluate_{dataset}_{objective}_{seed}"
    conda:
        "../envs/gan.yaml"
    threads: 1
    resources:
        gpu=0,
        mem_mb=job_mem_mb,
        runtime=10,
    params:
        run_dir=run_dir,
        lim=3.0,
        resolution=121,
        device="cpu",
    script:
        "../scripts/critic_grid.py"
