# Evaluation of every checkpoint: generate samples, score them against the dataset's reference, and (toy data)
# the critic's values over the plane for the figures. The rules share one group per run, so on a cluster a run's
# evaluation jobs become one job.


rule sample:
    input:
        summary=str(RUN.summary),
    output:
        samples=str(RUN.samples("{step}")),
        picture=str(RUN.picture("{step}")),
    params:
        run_dir=run_dir,
        n=n_samples,
        eval_seed=GRID.eval_seed,
        device=GRID.config.get("device", "auto"),
    group:
        "evaluate_{dataset}_{objective}_{seed}"
    threads: 1
    resources:
        gpu=uses_gpu,
        runtime=30,
    log:
        LAYOUT.log("sample", "{dataset}", "{objective}", "seed{seed}", "step{step}"),
    script:
        "../scripts/sample.py"


rule score:
    input:
        unpack(score_rule_inputs),
    output:
        str(RUN.scores("{step}")),
    params:
        eval_seed=GRID.eval_seed,
        run=run_identity,
        device=GRID.config.get("device", "auto"),
    group:
        "evaluate_{dataset}_{objective}_{seed}"
    threads: 1
    resources:
        gpu=uses_gpu,
        runtime=30,
    log:
        LAYOUT.log("score", "{dataset}", "{objective}", "seed{seed}", "step{step}"),
    script:
        "../scripts/score.py"


# Toy (2-D points) runs: the critic's values over [-lim, lim]^2 at a checkpoint, for the toy-critic figure
# (requested by the figures rule's inputs only; a run that diverged before the step gets a file marked missing).
rule critic_grid:
    input:
        summary=str(RUN.summary),
    output:
        str(RUN.critic_grid("{step}")),
    params:
        run_dir=run_dir,
        lim=3.0,
        resolution=121,
        device="cpu",
    group:
        "evaluate_{dataset}_{objective}_{seed}"
    threads: 1
    resources:
        gpu=0,
        runtime=10,
    log:
        LAYOUT.log("critic_grid", "{dataset}", "{objective}", "seed{seed}", "step{step}"),
    script:
        "../scripts/critic_grid.py"
