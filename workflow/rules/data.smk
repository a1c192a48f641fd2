# Data preparation and reference statistics: once per dataset, reused by every run.


# Downloads happen here, on the submitting machine, so compute nodes never need the network.
localrules:
    prepare_data,


# The dataset entry's registered dataset with its options, both splits decoded once into one tensor file that
# training, reference and classifier jobs read.
rule prepare_data:
    output:
        LAYOUT.prepared("{dataset}"),
    log:
        LAYOUT.log("prepare_data", "{dataset}"),
    conda:
        "../envs/gan.yaml"
    params:
        downloads=LAYOUT.downloads,
        spec=dataset_spec,
    script:
        "../scripts/prepare_data.py"


# One download rule per registered extractor whose weights have a URL (`fetch_inception`; a plugin's too), on the
# submitting machine: score and reference jobs only read the file.
for _extractor, _weights in GRID.downloaded_weights().items():

    rule:
        name:
            f"fetch_{_extractor}"
        output:
            _weights,
        log:
            LAYOUT.log(f"fetch_{_extractor}"),
        localrule: True
        conda:
            "../envs/gan.yaml"
        params:
            extractor=_extractor,
        script:
            "../scripts/fetch_weights.py"


rule train_classifier:
    input:
        data=LAYOUT.prepared("{dataset}"),
    output:
        model=LAYOUT.classifier("{dataset}"),
    log:
        LAYOUT.log("train_classifier", "{dataset}"),
    conda:
        "../envs/gan.yaml"
    threads: 1
    resources:
        gpu=1,
        gpu_model=gpu_model,
        mem_mb=job_mem_mb,
        runtime=30,
    params:
        spec=dataset_spec,
        epochs=GRID.scoring["classifier_epochs"],
        holdout=GRID.scoring["classifier_holdout"],
        device=GRID.device,
    script:
        "../scripts/train_classifier.py"


rule reference:
    input:
        unpack(reference_rule_inputs),
    output:
        LAYOUT.reference("{dataset}", "{extractor}", "{mode}", "{split}", "{n}", "{eval_seed}"),
    log:
        LAYOUT.log("reference", "{dataset}", "{extractor}_{mode}_{split}_{n}_s{eval_seed}"),
    conda:
        "../envs/gan.yaml"
    threads: loader_threads
    resources:
        gpu=reference_uses_gpu,
        gpu_model=reference_gpu_model,
        mem_mb=job_mem_mb,
        runtime=60,
    params:
        spec=dataset_spec,
        device=GRID.device,
    script:
        "../scripts/reference.py"


# Every metric's floor: unseen real samples scored like the generated ones (same N, references, extractors).
rule floor:
    input:
        unpack(floor_rule_inputs),
    output:
        LAYOUT.floor("{dataset}"),
    log:
        LAYOUT.log("floor", "{dataset}"),
    conda:
        "../envs/gan.yaml"
    threads: 1
    resources:
        gpu=uses_gpu,
        gpu_model=gpu_model,
        mem_mb=job_mem_mb,
        runtime=60,
    params:
        spec=dataset_spec,
        n_gen=n_samples,
        repeats=GRID.scoring["floor_repeats"],
        eval_seed=GRID.eval_seed,
        device=GRID.device,
    script:
        "../scripts/floor.py"
