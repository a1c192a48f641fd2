# Training: one job per (dataset, objective, seed). Checkpoints live beside the declared outputs but are not
# outputs themselves, so Snakemake never deletes them: a retried or preempted job resumes from the latest one.


rule train:
    input:
        data=f"{RESULTS}/data/{{dataset}}.prepared.json",
        tracking=tracking_store_marker(),
    output:
        summary=f"{RUNS}/summary.json",
        metrics=f"{RUNS}/metrics.csv",
    params:
        settings=train_settings,
        run_dir=run_dir,
        tracking=tracking_params,
    threads: train_threads
    resources:
        gpu=uses_gpu,
        mem_mb=train_mem_mb,
        runtime=train_runtime,
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{objective}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{dataset}}/{{objective}}/seed{{seed}}.tsv"
    script:
        "../scripts/train.py"
