# Training: one job per (dataset, objective, seed). Checkpoints live beside the declared outputs but are not
# outputs themselves, so Snakemake never deletes them: a retried or preempted job resumes from the latest one.


rule train:
    input:
        data=LAYOUT.prepared("{dataset}"),
    output:
        summary=str(RUN.summary),
        metrics=str(RUN.metrics),
    log:
        LAYOUT.log("train", "{dataset}", "{objective}", "seed{seed}"),
    benchmark:
        LAYOUT.benchmark("train", "{dataset}", "{objective}", "seed{seed}")
    conda:
        "../envs/gan.yaml"
    threads: train_threads
    resources:
        gpu=uses_gpu,
        gpu_model=gpu_model,
        mem_mb=job_mem_mb,
        runtime=train_runtime,
    params:
        settings=train_settings,
        run_dir=run_dir,
    script:
        "../scripts/train.py"
