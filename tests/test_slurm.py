"""Snakemake through profiles/slurm + profiles/slurm-ci on a real one-node SLURM (tests/slurm/cluster.sh).

First, without a cluster, what profiles/slurm asks SLURM for every job of the paper config (the plugin's own sbatch
calls, tests/slurm/sbatch_lines.py): CPU-only jobs on the CPU partition, GPU jobs on the GPU one, a GPU type for
GPU jobs only, every rule sized by its dataset's kind, no group asking more than its members need at once.
Then, on the cluster, a tiny self-contained workflow shaped like gan-bench's (train -> sample -> score per
checkpoint, two runs) checks what the profiles promise: GPU jobs (here all, as for an image dataset) get a device
from SLURM, and the evaluation jobs of a run (group "evaluate_{dataset}_{objective}_{seed}") become ONE SLURM job
asking ONE GPU, a different job per run. Then the real workflow on the smoke config (seed 0): the same SLURM jobs
for real, each asking (and granted by SLURM) the partition, memory, CPUs and GPUs above, and results equal to
those of the local README demo run.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import yaml

from workflow_helpers import ROOT, SIDE_STAGES_OFF, SMOKE_RESULTS, complete_config, copy_workflow, results_dir, smoke_config, write_config

_spec = importlib.util.spec_from_file_location("gan_bench_slurm_fixtures",
                                               Path(__file__).parent / "slurm" / "fixtures.py")
fixtures = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
if not hasattr(fixtures, "slurm_cluster"):
    _spec.loader.exec_module(fixtures)
slurm_cluster = fixtures.slurm_cluster

SBATCH_LINES = Path(__file__).parent / "slurm" / "sbatch_lines.py"
_spec = importlib.util.spec_from_file_location("gan_bench_sbatch_lines", SBATCH_LINES)
sbatch_lines = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
if not hasattr(sbatch_lines, "check_requests"):
    _spec.loader.exec_module(sbatch_lines)

# rules that must run on the submitting node (downloads, aggregation, plots, the MLflow mirror), never via sbatch
LOCAL_RULES = {"prepare_data", "fetch_inception", "aggregate", "provenance", "tables", "figures", "mlflow_sync",
               "figure1a"}


def _profile(name: str) -> dict:
    return yaml.safe_load((ROOT / "profiles" / name / "config.yaml").read_text())


# --- without a cluster: the sbatch call of every job of the paper config -------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
                    reason="snakemake-executor-plugin-slurm is not installed")
def test_paper_config_requests_through_slurm_profile(tmp_path):
    """profiles/slurm with the paper config (config/config.yaml), GAN_BENCH_GPU_MODEL=a100: the partition each
    job gets from profiles/slurm/partitions.yaml, and its memory, CPUs, GPUs and time, as the plugin builds them."""
    workdir = copy_workflow(tmp_path / "workflow")
    env = fixtures.clean_env({"GAN_BENCH_GPU_MODEL": "a100"})
    proc = subprocess.run([sys.executable, str(SBATCH_LINES), str(workdir), "--profile", "profiles/slurm",
                           "--workflow-profile", "none", "--quiet"],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    print(f"\n[slurm] paper config through profiles/slurm (no cluster):\n{proc.stdout}")
    records = json.loads((workdir / "sbatch.json").read_text())
    profile = _profile("slurm")
    assert "slurm_partition" not in profile["default-resources"], "a default partition skips the plugin's choice"
    partitions = yaml.safe_load((ROOT / "profiles/slurm" / profile["slurm-partition-config"]).read_text())
    assert set(partitions["partitions"]) == {"cpu", "gpu"}

    sbatch_lines.check_requests(records, profile["default-resources"]["mem_mb"])
    submitted = {rule for r in records for rule in r["rules"]}
    assert not submitted & LOCAL_RULES, submitted & LOCAL_RULES
    assert {"train", "reference", "floor", "sample", "score", "critic_grid", "optimal_critic",
            "train_classifier"} <= submitted
    gpu_calls = [r for r in records if r["asked"]["gpus"]]
    assert gpu_calls and all(r["asked"]["gpus"] == "a100:1" for r in gpu_calls), \
        {r["asked"]["gpus"] for r in gpu_calls}
    toy = [r for r in records if any("dataset=8gaussians" in w for w in r["wildcards"])]
    assert toy and all(r["asked"]["partition"] == "cpu" and not r["asked"]["gpus"] for r in toy)


# --- on a one-node SLURM ----------------------------------------------------------------------------------------

SNAKEFILE = textwrap.dedent('''
    STEPS = [1, 2]
    RUNS = [("toy", "gan", 1), ("toy", "gan", 2)]
    RUN = "results/runs/{dataset}/{objective}/seed{seed}"
    REPORT = 'printf "SLURM_JOB_ID=%s\\\\nCUDA_VISIBLE_DEVICES=%s\\\\n" "${{SLURM_JOB_ID:-}}" "${{CUDA_VISIBLE_DEVICES:-<unset>}}"'

    rule all:
        input: [f"results/runs/{d}/{o}/seed{s}/scores/step{st}.txt" for d, o, s in RUNS for st in STEPS]

    rule train:
        output: expand(RUN + "/checkpoints/step{step}.txt", step=STEPS, allow_missing=True)
        resources: gpu=1
        shell: "for f in {output}; do " + REPORT + " > $f; done"

    rule sample:
        input: RUN + "/checkpoints/step{step}.txt"
        output: RUN + "/samples/step{step}.txt"
        group: "evaluate_{dataset}_{objective}_{seed}"
        resources: gpu=1
        shell: REPORT + " > {output}"

    rule score:
        input: RUN + "/samples/step{step}.txt"
        output: RUN + "/scores/step{step}.txt"
        group: "evaluate_{dataset}_{objective}_{seed}"
        resources: gpu=1
        shell: REPORT + " > {output}"
''')


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_workflow_through_slurm_profile(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    result = slurm_cluster.run_snakemake(tmp_path, "--cores", "2", "--verbose")
    print(f"\n[slurm] tiny workflow (2 train + 2 evaluate SLURM jobs) took {result.seconds:.1f} s")
    assert result.returncode == 0, result.report()

    runs = {seed: tmp_path / f"results/runs/toy/gan/seed{seed}" for seed in (1, 2)}
    jobs = {}
    for seed, run in runs.items():
        for kind in ("checkpoints", "samples", "scores"):
            for step in (1, 2):
                out = run / kind / f"step{step}.txt"
                assert out.exists(), f"missing {out}\n{result.report()}"
                jobs[seed, kind, step] = read_env(out)

    for (seed, kind, step), env in jobs.items():
        assert env["SLURM_JOB_ID"].isdigit(), (seed, kind, step, env)
        # every job here asks for a GPU; SLURM picks one of the 2 fake ones and says which
        assert env["CUDA_VISIBLE_DEVICES"] in {"0", "1"}, (seed, kind, step, env)

    train_ids = {seed: jobs[seed, "checkpoints", 1]["SLURM_JOB_ID"] for seed in runs}
    eval_ids = {seed: {jobs[seed, kind, step]["SLURM_JOB_ID"] for kind in ("samples", "scores") for step in (1, 2)}
                for seed in runs}
    for seed in runs:
        assert len(eval_ids[seed]) == 1, f"run {seed}: sample+score of every checkpoint must be ONE SLURM job, " \
                                         f"got {eval_ids[seed]}"
    assert eval_ids[1] != eval_ids[2], "two runs' evaluations must be separate SLURM jobs"
    assert train_ids[1] != train_ids[2]
    assert not set(train_ids.values()) & (eval_ids[1] | eval_ids[2])

    # what the plugin submitted (--verbose logs each sbatch call)
    calls = [line for line in result.output.splitlines() if line.startswith("sbatch call:")]
    train_calls = [c for c in calls if "--comment rule_train_" in c]
    group_calls = [c for c in calls if "group_evaluate_toy_gan_" in c]
    assert len(train_calls) == 2 and len(group_calls) == 2, result.report()
    for c in train_calls:  # gpu 1 -> the GPU partition (slurm-ci/partitions.yaml); CPUs = threads
        assert "--gpus=1" in c and "--cpus-per-task=1" in c and " -p gpu " in c, c
    for c in group_calls:  # ONE GPU for the whole run, run times of its 4 jobs (10 min each) added up
        assert "--gpus=1" in c and " -t 40 " in c and " -p gpu " in c, c

    again = slurm_cluster.run_snakemake(tmp_path, "--cores", "2", timeout=120)
    assert again.returncode == 0, again.report()
    assert "Nothing to be done" in again.output, again.report()


# --- the real workflow: the smoke config through the SLURM profile equals the local README demo ---------------

# The smoke config cut to what the profile's behaviour depends on, to keep CI's budget: one seed, one objective
# (objectives differ in their training step, not in how Snakemake and SLURM run them), both datasets (a toy run on
# the cpu partition, an image run with a GPU from SLURM) and every rule of the benchmark grid; the papers' side
# stages (independent small jobs of the same resource classes) stay off. Its runs equal the local demo's.
SLURM_SEEDS = [0]
SLURM_OBJECTIVES = ["wgan-gp"]


def _csv_without(path: Path, column: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k != column} for row in csv.DictReader(f)]


def _same_number(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9
    return a == b


def _assert_same_run(slurm_run: Path, local_run: Path, steps: list[int], label: str) -> None:
    summaries = [json.loads((r / "summary.json").read_text()) for r in (slurm_run, local_run)]
    assert summaries[0]["status"] == summaries[1]["status"], label
    assert summaries[0]["steps_done"] == summaries[1]["steps_done"], label
    assert _csv_without(slurm_run / "metrics.csv", "time_s") == _csv_without(local_run / "metrics.csv", "time_s"), \
        f"{label}: metrics.csv differs (time_s aside)"
    for step in steps:
        scores = [json.loads((r / f"scores/step{step:07d}.json").read_text()) for r in (slurm_run, local_run)]
        assert scores[0]["status"] == scores[1]["status"], (label, step, scores)
        metrics = [s["metrics"] for s in scores]
        assert metrics[0].keys() == metrics[1].keys(), (label, step, metrics)
        differ = {k: (metrics[0][k], metrics[1][k]) for k in metrics[0]
                  if not _same_number(metrics[0][k], metrics[1][k])}
        assert not differ, f"{label} step {step}: scores differ (SLURM, local): {differ}"
    final = f"checkpoints/step{max(steps):07d}.pt"
    assert (slurm_run / final).exists() == (local_run / final).exists(), f"{label}: {final} in one run only"
    if (local_run / final).exists():
        states = [torch.load(r / final, map_location="cpu", weights_only=True) for r in (slurm_run, local_run)]
        for net in ("generator", "critic"):
            a, b = states[0][net], states[1][net]
            assert a.keys() == b.keys(), (label, net)
            differ = [k for k in a if not torch.equal(a[k], b[k])]
            assert not differ, f"{label}: {net} tensors of {final} differ: {differ}"


def _rule_runs(log: str, rule: str) -> list[str]:
    """The wildcards line of every `rule <rule>:` block a Snakemake log shows."""
    found = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", log):
        if re.match(rf"(?:local)?rule {rule}:", block.lstrip()):
            m = re.search(r"wildcards: (.*)", block)
            found.append(m.group(1).strip() if m else "")
    return found


def _mb(value: str) -> int:
    """scontrol's memory, e.g. MinMemoryNode=3000M or 8G, in MB."""
    number, unit = re.fullmatch(r"(\d+)([MGT]?)", value).groups()
    return int(number) * {"": 1, "M": 1, "G": 1024, "T": 1024 ** 2}[unit]


def _check_requests(output: str, by_comment: dict[str, list[str]], jobs: dict[str, dict[str, str]]) -> None:
    """Check 0 of the test below: what each SLURM job asked, and what SLURM recorded for it."""
    records, local = sbatch_lines.records_from_log(output)
    calls = [line for line in output.splitlines() if line.startswith("sbatch call:")]
    assert len(records) == len(calls), ("an sbatch call without its job in the log", len(records), len(calls))
    # every job sized by its rule (not the overlay's default), CPU-only jobs on `cpu` and GPU jobs on `gpu`,
    # no GPU of any count for a job without GPU members, no group asking more than its members need at once
    sbatch_lines.check_requests(records, _profile("slurm-ci")["default-resources"]["mem_mb"])
    for r in records:
        asked = r["asked"]
        ids = by_comment.get(asked["comment"], [])
        assert len(ids) == 1, (asked["comment"], sorted(by_comment))
        job = jobs[ids[0]]
        granted = {"partition": job.get("Partition"), "mem_mb": _mb(job.get("MinMemoryNode", "0")),
                   "cpus": int(job.get("NumCPUs", 0)), "gpu": "gpu" in job.get("TresPerJob", "")}
        wanted = {"partition": asked["partition"], "mem_mb": asked["mem_mb"], "cpus": asked["cpus_per_task"],
                  "gpu": bool(asked["gpus"])}
        assert granted == wanted, (r["name"], r["wildcards"][:1], granted, wanted, r["call"])
        print(f"[slurm] {r['name']:<52} {granted['partition']:<4} {granted['mem_mb']:>6} MB "
              f"{granted['cpus']} CPU {'1 GPU' if granted['gpu'] else ''}")
    # the rules meant for the submitting node ran there (the smoke config has no Inception and no Figure 1(a))
    assert LOCAL_RULES - {"fetch_inception", "figure1a"} <= local, local
    assert not local & {rule for r in records for rule in r["rules"]}


def _check_cluster_jobs(config: dict, workdir: Path, output: str, slurm_logs: dict[str, str],
                       jobs: dict[str, dict[str, str]], gres_while_running: dict[str, set[str]]) -> tuple[list, dict]:
    """What went to SLURM, and how (checks 0 to 2 of the test below)."""
    runs = [(d, o, s) for d in config["datasets"] for o in config["objectives"] for s in SLURM_SEEDS]
    steps = {d: spec["checkpoint_steps"] for d, spec in config["datasets"].items()}
    images = {d for d, spec in config["datasets"].items() if spec["train"]["model"] != "toy"}
    assert images == {"digits"}
    by_comment = {}
    for job_id, job in jobs.items():
        assert job.get("JobState") == "COMPLETED", (job_id, job)
        by_comment.setdefault(job.get("Comment", ""), []).append(job_id)
    calls = [line for line in output.splitlines() if line.startswith("sbatch call:")]
    assert len(calls) == len(jobs), (len(calls), sorted(by_comment))
    _check_requests(output, by_comment, jobs)

    # 1. every training run is one SLURM job; an image dataset's job got a GPU from SLURM, a toy one none
    for d, o, s in runs:
        label = f"train {d}/{o}/seed{s}"
        ids = by_comment.get(f"rule_train_wildcards_{d}_{o}_{s}", [])
        assert len(ids) == 1, f"{label}: SLURM jobs {ids}; comments seen: {sorted(by_comment)}"
        job = jobs[ids[0]]
        log_path = Path(os.path.realpath(job["StdOut"]))
        assert log_path.is_relative_to(Path(os.path.realpath(workdir)) / ".snakemake/slurm_logs/rule_train"), job
        assert log_path.exists(), job
        # (the batch script's Snakemake and the one it starts with srun both show the job)
        shown = set(_rule_runs(log_path.read_text(errors="replace"), "train"))
        assert shown == {f"dataset={d}, objective={o}, seed={s}"}, (label, shown)
        comment = re.compile(rf"--comment '?rule_train_wildcards_{re.escape(f'{d}_{o}_{s}')}'?(\s|$)")
        call = next(c for c in calls if comment.search(c))
        if d in images:
            assert "--gpus=1" in call and job.get("TresPerJob") == "gres:gpu:1" and job.get("JOB_GRES") == "gpu:1", \
                (label, call, job)
            # while it ran, scontrol showed the device SLURM gave it (SLURM sets CUDA_VISIBLE_DEVICES to that index)
            devices = {m for g in gres_while_running.get(ids[0], ()) for m in re.findall(r"^gpu:1\(IDX:(\d)\)$", g)}
            assert len(devices) == 1 and devices <= {"0", "1"}, (label, gres_while_running)
        else:
            assert "--gpus" not in call and "gpu" not in job.get("TresPerJob", "") + job.get("JOB_GRES", ""), \
                (label, call, job)
            devices = set()
        # what the job itself saw, once workflow/scripts/train.py logs it ("SLURM_JOB_ID=.. CUDA_VISIBLE_DEVICES=..")
        train_log = (workdir / results_dir(config) / f"logs/train/{d}/{o}/seed{s}.log").read_text(errors="replace")
        seen = dict(re.findall(r"\b(SLURM_JOB_ID|CUDA_VISIBLE_DEVICES)=(\S*)", train_log))
        if seen:
            assert seen.get("SLURM_JOB_ID") == ids[0], (label, seen)
            assert seen.get("CUDA_VISIBLE_DEVICES") == (devices.pop() if devices else "<unset>"), (label, seen)

    # 2. a run's evaluation (its sample and score jobs, each over every checkpoint) is ONE SLURM job, one per run, with 1 GPU
    #    for an image dataset; no sample/score job went to SLURM alone
    assert not [p for p in slurm_logs if "/rule_sample/" in p or "/rule_score/" in p], sorted(slurm_logs)
    group_ids = set()
    for d, o, s in runs:
        label = f"evaluate {d}/{o}/seed{s}"
        # the plugin names a group job "<group id>_<its rules>": logs in slurm_logs/group_<name>/, comment rule_<name>
        # (toy runs also compute the critic's grid for the figures in that job)
        name = f"evaluate_{d}_{o}_{s}_" + ("sample_score" if d in images else "critic_grid_sample_score")
        logs = [p for p in slurm_logs if f"/group_{name}/" in p]
        assert len(logs) == 1, f"{label}: SLURM logs {logs}"
        ids = [i for i, job in jobs.items() if f"/group_{name}/" in job.get("StdOut", "")]
        assert len(ids) == 1 and by_comment.get(f"rule_{name}") == ids, f"{label}: SLURM jobs {ids}, {by_comment}"
        group_ids |= set(ids)
        log = slurm_logs[logs[0]]
        expected = [f"dataset={d}, objective={o}, seed={s}"]  # one sample and one score job per run
        assert sorted(set(_rule_runs(log, "sample"))) == expected, (label, log[-3000:])
        assert sorted(set(_rule_runs(log, "score"))) == expected, (label, log[-3000:])
        call = next(c for c in calls if f"/group_{name}/" in c)
        assert ("--gpus=1" in call) == (d in images) and "--gpus=2" not in call, (label, call)
    assert len(group_ids) == len(runs)
    return runs, steps


@pytest.mark.slurm
@pytest.mark.slow
def test_smoke_config_through_slurm_profile_equals_local_run(slurm_cluster, request, tmp_path):
    """The README demo's smoke config (its SLURM_SEEDS x SLURM_OBJECTIVES runs) through profiles/slurm +
    profiles/slurm-ci: every cluster job a SLURM job (image training on a GPU that SLURM assigned), one SLURM job
    per run's evaluation, the same numbers as the local run (the `smoke_run` fixture), and nothing to do the second
    time."""
    smoke = smoke_config()
    config = smoke_config(seeds=SLURM_SEEDS, objectives=SLURM_OBJECTIVES, **SIDE_STAGES_OFF,
                          objective_settings={o: v for o, v in smoke["objective_settings"].items()
                                              if o in SLURM_OBJECTIVES})
    workdir = copy_workflow(tmp_path / "workflow")
    configfile = write_config(workdir, "smoke_slurm.yaml", config)
    args = (*complete_config(configfile.relative_to(workdir)), "--verbose")  # --verbose: the sbatch calls

    # The SLURM run spends much of its time waiting (job start, status polls every 10+ s): the local run of the
    # README demo (session fixture `smoke_run`, shared with tests/test_workflow.py) goes on meanwhile, unless an
    # earlier test already made it.
    with fixtures.JobWatcher(workdir) as watcher, ThreadPoolExecutor(max_workers=1) as pool:
        slurm = pool.submit(slurm_cluster.run_snakemake, workdir, *args, timeout=1800)
        t0 = time.monotonic()
        try:
            smoke_run = request.getfixturevalue("smoke_run")
        finally:
            result = slurm.result()  # bounded by run_snakemake's timeout, also when the local run failed
        local_seconds = time.monotonic() - t0
    print(f"\n[slurm] smoke config, seeds {SLURM_SEEDS}, through the SLURM profile: {result.seconds:.1f} s, "
          f"{len(watcher.jobs)} SLURM jobs; local smoke run (all seeds) alongside: {local_seconds:.1f} s")
    assert result.returncode == 0, result.report()
    slurm_logs = result.slurm_logs()
    jobs = watcher.jobs
    runs, steps = _check_cluster_jobs(config, workdir, result.output, slurm_logs, jobs, watcher.gres_while_running)

    # 3. the numbers equal those of the local README demo run (same seed)
    for d, o, s in runs:
        _assert_same_run(workdir / results_dir(config) / f"runs/{d}/{o}/seed{s}",
                         smoke_run / SMOKE_RESULTS / f"runs/{d}/{o}/seed{s}",
                         steps[d], f"{d}/{o}/seed{s}")

    # 4. a second run through the profile has nothing to do: no new SLURM job
    again = slurm_cluster.run_snakemake(workdir, *args, timeout=300)
    print(f"[slurm] second run: {again.seconds:.1f} s")
    assert again.returncode == 0, again.report()
    assert "Nothing to be done" in again.output, again.report()
    assert "sbatch call" not in again.output and "submitted with SLURM jobid" not in again.output, again.report()
    new = [i for i, job in fixtures.show_jobs().items()
           if i not in jobs and os.path.realpath(job.get("WorkDir", "")) == os.path.realpath(workdir)]
    assert not new, f"the second run submitted SLURM jobs {new}"
    assert set(again.slurm_logs()) == set(slurm_logs)
