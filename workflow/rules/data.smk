# Data preparation and reference statistics: once per dataset, reused by every run.


# Downloads happen here, on the submitting machine, so compute nodes never need the network.
localrules:
    prepare_data,
    fetch_inception,


rule prepare_data:
    output:
        f"{RESULTS}/data/{{dataset}}.prepared.json",
    params:
        data_root=f"{BENCH.resources_dir}/data",
        options=dataset_options,
    log:
        f"{RESULTS}/logs/prepare_data/{{dataset}}.log",
    script:
        "../scripts/prepare_data.py"


rule fetch_inception:
    output:
        BENCH.scoring.get("inception_weights", "resources/inception-2015-12-05.pt"),
    log:
        f"{RESULTS}/logs/fetch_inception.log",
    script:
        "../scripts/fetch_inception.py"


rule train_classifier:
    input:
        data=f"{RESULTS}/data/{{dataset}}.prepared.json",
    output:
        model=f"{RESULTS}/reference/{{dataset}}/classifier.pt",
    params:
        data_root=f"{BENCH.resources_dir}/data",
        epochs=BENCH.scoring.get("classifier_epochs", 20),
        options=dataset_options,
        device=BENCH.config.get("device", "auto"),
    threads: 1
    resources:
        gpu=1,
        runtime=30,
    log:
        f"{RESULTS}/logs/train_classifier/{{dataset}}.log",
    script:
        "../scripts/train_classifier.py"


rule reference:
    input:
        unpack(reference_rule_inputs),
    output:
        f"{RESULTS}/reference/{{dataset}}/{{extractor}}_{{mode}}_{{split}}_{{n}}.npz",
    params:
        data_root=f"{BENCH.resources_dir}/data",
        options=dataset_options,
        device=BENCH.config.get("device", "auto"),
    threads: 2
    resources:
        gpu=reference_uses_gpu,
        runtime=60,
    log:
        f"{RESULTS}/logs/reference/{{dataset}}/{{extractor}}_{{mode}}_{{split}}_{{n}}.log",
    script:
        "../scripts/reference.py"
