# Evaluation of every checkpoint: generate samples, score them against the dataset's reference.
# Both rules share one group per run, so on a cluster a run's evaluation jobs become one job.


rule sample:
    input:
        summary=f"{RUNS}/summary.json",
    output:
        samples=f"{RUNS}/samples/step{{step}}.npz",
        picture=f"{RUNS}/samples/step{{step}}.png",
    params:
        run_dir=run_dir,
        n=n_samples,
        seed=BENCH.scoring.get("sample_seed", 12345),
        device=BENCH.config.get("device", "auto"),
    group:
        "evaluate_{dataset}_{objective}_{seed}"
    threads: 1
    resources:
        gpu=uses_gpu,
        runtime=30,
    log:
        f"{RESULTS}/logs/sample/{{dataset}}/{{objective}}/seed{{seed}}/step{{step}}.log",
    script:
        "../scripts/sample.py"


rule score:
    input:
        unpack(score_rule_inputs),
    output:
        f"{RUNS}/scores/step{{step}}.json",
    params:
        seed=BENCH.scoring.get("sample_seed", 12345),
        device=BENCH.config.get("device", "auto"),
    group:
        "evaluate_{dataset}_{objective}_{seed}"
    threads: 1
    resources:
        gpu=uses_gpu,
        runtime=30,
    log:
        f"{RESULTS}/logs/score/{{dataset}}/{{objective}}/seed{{seed}}/step{{step}}.log",
    script:
        "../scripts/score.py"
